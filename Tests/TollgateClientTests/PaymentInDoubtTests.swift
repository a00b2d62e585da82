import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// The answers a scripted server gives to paid requests: the queued ones in order, then `otherwise` (given the nonce of
/// the authorization shown) for every later one.
final class PaidReplies: Sendable {
    private let state: Mutex<(next: [ScriptedServer.Reply], otherwise: @Sendable (_ nonce: String) -> ScriptedServer.Reply)>

    init(_ next: [ScriptedServer.Reply], otherwise: ScriptedServer.Reply) { state = Mutex((next, { _ in otherwise })) }

    func take(nonce: String) -> ScriptedServer.Reply {
        let (queued, otherwise) = state.withLock { state -> (ScriptedServer.Reply?, @Sendable (String) -> ScriptedServer.Reply) in
            (state.next.isEmpty ? nil : state.next.removeFirst(), state.otherwise)
        }
        return queued ?? otherwise(nonce)
    }

    /// From now on every paid request gets `reply`.
    func always(_ reply: ScriptedServer.Reply) { answer { _ in reply } }

    /// From now on every paid request gets what `rule` says for its authorization's nonce.
    func answer(_ rule: @escaping @Sendable (_ nonce: String) -> ScriptedServer.Reply) { state.withLock { $0 = ([], rule) } }
}

/// The unlucky sequence of the review: the gateway's authorizations live 60 s; the paid request's first send gets no
/// answer while the gateway is settling, its re-send a 503 "payment in progress"; the purchase ends `unknown`. Later
/// runs of the same request must never sign a second authorization while the first may still settle or may have
/// settled: the ledger's rows are the signatures (each is written in the transaction that signs it), and the server
/// says which authorizations it was shown.
@Suite("An authorization in doubt: later runs of its request send it again and sign nothing new until the server clears it")
struct PaymentInDoubtTests {
    /// A server that answers unpaid requests with fresh terms and paid ones from `replies`.
    static func server(_ replies: PaidReplies) async throws -> ScriptedServer {
        try await ScriptedServer { request in X402Fixture.nonce(request).map(replies.take) ?? X402Fixture.paymentRequired() }
    }

    static func request(on server: ScriptedServer) -> PaymentClient.Request { .init(url: server.url + "/datasets/prices") }

    /// Run 1: no answer to the first send, 503 to the re-send. Returns the purchase it leaves in doubt.
    static func unluckyFirstRun(_ client: PaymentClient, server: ScriptedServer) async throws -> Purchase {
        do {
            _ = try await client.fetch(request(on: server))
            Issue.record("the first run was answered")
        } catch let error as ClientError {
            #expect(error.code == .unreachable)
        }
        let purchases = try client.ledger.purchases()
        #expect(purchases.count == 1)
        let purchase = try #require(purchases.first)
        #expect(purchase.state == .unknown)
        #expect(purchase.attempts == 2)
        return purchase
    }

    /// A client on a fresh ledger, its clock, and a server whose paid answers come from `replies`, after the unlucky first
    /// run: the purchase it left in doubt.
    static func afterAnUnluckyFirstRun() async throws -> (ManualClock, PaidReplies, ScriptedServer, PaymentClient, Purchase) {
        let clock = ManualClock()
        let replies = PaidReplies([.drop], otherwise: X402Fixture.inProgress)
        let server = try await Self.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        return (clock, replies, server, client, try await Self.unluckyFirstRun(client, server: server))
    }

    static func expectInDoubt(_ client: PaymentClient, server: ScriptedServer) async throws {
        do {
            let outcome = try await client.fetch(request(on: server))
            Issue.record("a run in doubt ended with HTTP \(outcome.response.status)")
        } catch let error as ClientError {
            #expect(error.code == .paymentInDoubt, "\(error)")
            #expect(error.message.contains("nothing new was signed"))
        }
    }

    @Test("close to its validBefore, and just past it, the authorization in doubt is sent once more; a 503 or a 402 signs nothing new")
    func closeToValidBeforeSignsNothing() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        // 10 s left: too close to be re-sent as usual; the gateway is still settling it.
        clock.set(seconds: first.validBefore - 10)
        try await Self.expectInDoubt(client, server: server)
        // 3 s left: the gateway, holding no claim it can resume, refuses it with fresh terms. It may still settle.
        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore - 3)
        try await Self.expectInDoubt(client, server: server)
        // Past validBefore, but not by more than clocks may disagree: still in doubt.
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds - 1)
        try await Self.expectInDoubt(client, server: server)

        #expect(try client.ledger.purchases().map(\.id) == [first.id], "a second authorization was signed")
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        // Later runs never even asked for fresh terms: the old proof is what they sent.
        #expect(X402Fixture.unpaid(server) == 1)
        try await server.stop()
    }

    @Test("after its validBefore: a 503 keeps it in doubt; then the kept answer is served to the old proof, and nothing new is signed")
    func keptAnswerAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.state == .unknown)

        replies.always(X402Fixture.delivered())
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 200)
        #expect(outcome.resumed)
        #expect(outcome.purchase?.id == first.id)
        #expect(outcome.purchase?.state == .delivered)
        #expect(try client.ledger.purchases().count == 1)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        #expect(X402Fixture.unpaid(server) == 1)
        try await server.stop()
    }

    @Test("after its validBefore, fresh terms for the old proof: it lapses (still counted) and one new authorization pays them")
    func freshTermsAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        // The gateway has no record of the old proof (its first send never reached settlement): a fresh 402 for it,
        // and the new authorization delivered.
        let oldNonce = first.nonce
        replies.answer { nonce in
            nonce == oldNonce ? X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before") : X402Fixture.delivered()
        }
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 200)
        #expect(!outcome.resumed)
        let purchases = try client.ledger.purchases()
        #expect(purchases.count == 2)
        #expect(try client.ledger.purchase(first.id)?.state == .lapsed)
        #expect(outcome.purchase?.state == .delivered && outcome.purchase?.id != first.id)
        #expect(X402Fixture.nonces(server) == [first.nonce, try #require(outcome.purchase?.nonce)])
        // The late 402 carried the fresh terms: no unpaid request was needed after the first run's.
        #expect(X402Fixture.unpaid(server) == 1)
        // Both count (a refusal may be a lie), and the request is free again.
        #expect(try client.ledger.spent(.overall, seconds: 86_400, nowMillis: clock.nowMillis) == MicroUnits(20_000))
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(Self.request(on: server)).key) == nil)
        try await server.stop()
    }
}
