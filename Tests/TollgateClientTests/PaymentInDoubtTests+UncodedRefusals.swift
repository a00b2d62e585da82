import Foundation
import NIOHTTP1
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// A 402 answering a proof frees its request only when its reason is a code saying the proof was refused before any
/// settlement. A 402 without one (no terms, terms this client cannot read, no `error`, a message, a code of a failed
/// settlement) may hide money that moved: the purchase stays in doubt and nothing new is signed for its request.
extension PaymentInDoubtTests {
    /// A stock x402 v1 server (x402-express): terms in the body, the proof in `X-PAYMENT`.
    enum V1Server {
        static func accepts() -> String {
            #"[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","resource":"http://api.example/data","#
                + #""description":"data","mimeType":"application/json","payTo":"\#(BudgetTests.payee)","maxTimeoutSeconds":60,"#
                + #""asset":"\#(BudgetTests.usdc)","extra":{"name":"USDC","version":"2"}}]"#
        }

        /// A v1 402 whose `error` is `error`, written as JSON (a string in quotes, or `{}`).
        static func paymentRequired(errorJSON: String) -> ScriptedServer.Reply {
            .answer(status: 402, headers: [("Content-Type", "application/json")],
                    body: #"{"x402Version":1,"error":\#(errorJSON),"accepts":\#(accepts())}"#)
        }

        /// What x402-express v1 answers when its `settle` throws (its facilitator timed out, perhaps after broadcasting the
        /// transfer): the thrown Error serialised as `{}`, and no `X-PAYMENT-RESPONSE`.
        static let settlementThrew = paymentRequired(errorJSON: "{}")

        /// The nonce of the authorization a v1 request carries (`X-PAYMENT`); nil for an unpaid request.
        static func nonce(_ request: ScriptedServer.Request) -> String? {
            request.headers.first(name: X402.legacyPaymentHeader).flatMap(HeaderCodec.base64Bytes).flatMap { JSONValue.parse($0) }?["payload"]?[
                "authorization"]?["nonce"]?.string
        }

        /// Unpaid requests get fresh v1 terms; paid ones, what `replies` says.
        static func server(_ replies: PaidReplies) async throws -> ScriptedServer {
            try await ScriptedServer { request in
                nonce(request).map(replies.take) ?? paymentRequired(errorJSON: #""X-PAYMENT header is required""#)
            }
        }

        static func nonces(_ server: ScriptedServer) -> Set<String> { Set(server.requests.compactMap(nonce)) }
    }

    /// A run of a request whose authorization is in doubt: it either sends that authorization again (far from its
    /// validBefore) and returns the server's 402 with the same purchase, or stops with `paymentInDoubt`. Either way it
    /// signs nothing.
    static func expectResentOrInDoubt(_ client: PaymentClient, _ request: PaymentClient.Request, purchase: Purchase) async throws {
        do {
            let outcome = try await client.fetch(request)
            #expect(outcome.response.status == 402)
            #expect(outcome.resumed)
            #expect(outcome.purchase?.id == purchase.id)
            #expect(outcome.purchase?.state == .unknown)
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt, "\(error)")
            #expect(error.message.contains("nothing new was signed"), "\(error)")
        }
    }

    /// The honest-server case of the review: x402-express v1 settles after its handler, and when `settle` throws it
    /// answers `402 {"x402Version":1,"error":{},"accepts":[…]}` without a receipt. The transfer may have landed. The
    /// purchase stays in doubt: runs while it is valid send the same authorization and sign nothing; once it has
    /// expired, the server's "expired" 402 does not lapse it either (it keeps nothing of a settlement that threw), so
    /// without a node only its owner's abandon ends it.
    @Test("a v1 402 with error {} (x402-express when its settlement threw): in doubt, nothing new signed while it is valid or after")
    func aV1SettlementThatThrewStaysInDoubt() async throws {
        let clock = ManualClock()
        let replies = PaidReplies([], otherwise: V1Server.settlementThrew)
        let server = try await V1Server.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let request = Self.request(on: server)

        let first = try await client.fetch(request)
        #expect(first.response.status == 402)
        let purchase = try #require(first.purchase)
        #expect(purchase.x402Version == 1)
        #expect(purchase.state == .unknown)
        #expect(purchase.mayHaveMovedAtMillis != nil)
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(request).key)?.id == purchase.id)
        #expect(purchase.reason?.contains("may have been taken") == true, "\(purchase.reason ?? "no reason")")

        // Far from validBefore (sent again as usual), close to it, and just past it within the clocks' skew.
        for seconds in [clock.nowSeconds + 1, purchase.validBefore - Purchase.resendMarginSeconds - 1, purchase.validBefore - 10,
                        purchase.validBefore + Purchase.expirySkewSeconds - 1] {
            clock.set(seconds: seconds)
            try await Self.expectResentOrInDoubt(client, request, purchase: purchase)
            #expect(try client.ledger.purchases().map(\.id) == [purchase.id], "a second authorization was signed")
        }
        #expect(V1Server.nonces(server) == [purchase.nonce])
        // Later runs never asked for fresh terms to pay: only the first run's unpaid request.
        #expect(server.requests.filter { V1Server.nonce($0) == nil }.count == 1)

        // Expired: x402-express verifies first and refuses it as expired, with fresh terms, whether or not it landed.
        replies.always(V1Server.paymentRequired(errorJSON: #""invalid_exact_evm_payload_authorization_valid_before""#))
        clock.set(seconds: purchase.validBefore + Purchase.expirySkewSeconds)
        do {
            let outcome = try await client.fetch(request)
            Issue.record("an authorization whose settlement threw lapsed and its request was answered \(outcome.response.status)")
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt, "\(error)")
            #expect(error.message.contains("--rpc eip155:84532=URL"), "\(error)")
        }
        #expect(try client.ledger.purchase(purchase.id)?.state == .unknown)
        #expect(try client.ledger.purchases().count == 1)
        #expect(V1Server.nonces(server) == [purchase.nonce])
        try await server.stop()
    }

    /// The hostile-server case of the review: every paid request is answered with a clean 402, fresh terms and a
    /// reason that is not a code of a refusal before settlement, while the server may quietly settle what it was shown.
    /// However often the request is run while the authorization is valid, it is the only one signed.
    @Test("fresh terms with an uncoded reason to every paid request: one authorization for the request while it is valid",
          arguments: [nil, "Settlement failed: timeout of 30000ms exceeded", "unexpected_settle_error", "settlement_pending", "payment_in_progress"]
              as [String?])
    func freshTermsToEveryProofSignOneAuthorization(error: String?) async throws {
        let clock = ManualClock()
        let replies = PaidReplies([], otherwise: X402Fixture.paymentRequired(error: error))
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let request = Self.request(on: server)

        let first = try await client.fetch(request)
        #expect(first.response.status == 402)
        let purchase = try #require(first.purchase)
        #expect(purchase.state == .unknown)
        for seconds in [clock.nowSeconds, clock.nowSeconds + 5, purchase.validBefore - Purchase.resendMarginSeconds - 1,
                        purchase.validBefore - 5, purchase.validBefore + Purchase.expirySkewSeconds - 1] {
            clock.set(seconds: seconds)
            try await Self.expectResentOrInDoubt(client, request, purchase: purchase)
        }
        #expect(try client.ledger.purchases().map(\.id) == [purchase.id], "a second authorization was signed")
        #expect(X402Fixture.nonces(server) == [purchase.nonce])
        #expect(X402Fixture.unpaid(server) == 1)
        // Every send of it counts once, against the budget, whatever the server said.
        #expect(try client.ledger.spent(.overall, seconds: 86_400, nowMillis: clock.nowMillis) == MicroUnits(10_000))
        try await server.stop()
    }

    /// The refusals the review keeps: a code saying the proof was refused before any settlement (its signature, the
    /// window a Tollgate gateway needs for a new claim, a balance short on the first send, a Tollgate offer that had
    /// expired while the agent's owner read the prompt). The purchase ends `refused` (still counted), its request is
    /// free, and the next run pays the fresh terms with one new authorization.
    @Test("a coded refusal before settlement frees the request: the next run pays the fresh terms once",
          arguments: ["invalid_exact_evm_payload_signature", "invalid_exact_evm_payload_authorization_valid_before", "insufficient_funds",
                      "offer_expired", "offer_terms_mismatch"])
    func aCodedRefusalBeforeSettlementFreesTheRequest(code: String) async throws {
        let clock = ManualClock()
        let replies = PaidReplies([X402Fixture.paymentRequired(error: code)], otherwise: X402Fixture.delivered())
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let request = Self.request(on: server)

        let refused = try await client.fetch(request)
        #expect(refused.response.status == 402)
        let first = try #require(refused.purchase)
        #expect(first.state == .refused)
        #expect(first.mayHaveMovedAtMillis == nil)
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(request).key) == nil)

        let paid = try await client.fetch(request)
        #expect(paid.response.status == 200)
        #expect(!paid.resumed)
        let second = try #require(paid.purchase)
        #expect(second.id != first.id && second.state == .delivered)
        #expect(X402Fixture.nonces(server) == [first.nonce, second.nonce])
        #expect(try client.ledger.purchases().count == 2)
        #expect(try client.ledger.purchase(first.id)?.state == .refused)
        try await server.stop()
    }

    /// The same for a v1 server: its 402 with a coded reason in the body is a refusal before settlement.
    @Test("a v1 402 with a coded refusal before settlement frees the request: the next run pays the fresh terms once")
    func aV1CodedRefusalFreesTheRequest() async throws {
        let clock = ManualClock()
        let replies = PaidReplies([V1Server.paymentRequired(errorJSON: #""invalid_exact_evm_payload_signature""#)],
                                  otherwise: X402Fixture.delivered())
        let server = try await V1Server.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let request = Self.request(on: server)

        let first = try #require(try await client.fetch(request).purchase)
        #expect(first.state == .refused)
        let paid = try await client.fetch(request)
        #expect(paid.response.status == 200)
        #expect(paid.purchase?.id != first.id)
        #expect(V1Server.nonces(server).count == 2)
        #expect(try client.ledger.purchases().count == 2)
        try await server.stop()
    }

    /// A 402 to a re-sent proof is judged by the same rule, with what a first send landing would cause: a window that
    /// passed, a balance spent. Such a reason is kept (`Purchase.mayHaveMovedAtMillis`), so once the authorization has
    /// expired the server's fresh terms do not lapse it: only the chain, or its owner, can say nothing moved.
    @Test("a re-sent proof refused 'insufficient_funds' (what its first send landing would cause), then fresh terms once expired: in doubt")
    func aResentRefusalItsFirstSendWouldCauseIsKept() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()
        replies.always(X402Fixture.paymentRequired(error: "insufficient_funds"))
        try await Self.expectResentOrInDoubt(client, Self.request(on: server), purchase: first)
        #expect(try client.ledger.purchase(first.id)?.mayHaveMovedAtMillis != nil)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)
        #expect(try client.ledger.purchases().count == 1)
        try await server.stop()
    }
}
