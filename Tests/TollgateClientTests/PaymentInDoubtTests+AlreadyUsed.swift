import Foundation
import Synchronization
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// "Already used" heard for an authorization in doubt, before or after its validBefore: settled or still in doubt, never paid twice.
extension PaymentInDoubtTests {
    @Test("after its validBefore, a 402 saying the old proof was already used: paid, its answer lost; it ends settled and nothing is signed")
    func alreadyUsedAfterValidBefore() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("an authorization the server says was used was paid again")
        } catch let error as ClientError {
            #expect(error.code == .serverRefused)
            #expect(error.message.contains("already used"))
        }
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(try client.ledger.purchase(first.id)?.state == .settled)
        #expect(X402Fixture.nonces(server) == [first.nonce])
        try await server.stop()
    }

    /// Before its validBefore, "already used" settles nothing: a Tollgate MCP door says so of a copy sent while the
    /// first call still runs (which may yet deliver, or fail and charge nothing), and of a claim whose settlement
    /// failed. The purchase stays in doubt (nothing new signed), to be sent again, never recorded as paid.
    @Test("before its validBefore, a 402 saying the re-sent proof was already used leaves it in doubt; nothing is signed")
    func alreadyUsedBeforeValidBeforeStaysInDoubt() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        #expect(first.isResendable(nowSeconds: clock.nowMillis / 1000))
        let outcome = try await client.fetch(Self.request(on: server))
        #expect(outcome.response.status == 402)
        #expect(outcome.purchase?.id == first.id)
        #expect(outcome.purchase?.state == .unknown)
        #expect(try client.ledger.inDoubt(requestKey: PaymentClient.identity(Self.request(on: server)).key)?.id == first.id)
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(Set(X402Fixture.nonces(server)) == [first.nonce])
        try await server.stop()
    }

    /// A server whose settlement timed out answers a fresh 402 although the transfer landed (the x402 Python server
    /// does); the same authorization sent again is refused as used while it is valid, and once it has expired its
    /// facilitator calls it expired, not used. The "already used" heard before is kept (`Purchase.saidUsedAtMillis`):
    /// the expired purchase ends settled, and the request is not paid a second time.
    @Test("'already used' heard before its validBefore, then 'expired' after it: settled, never paid twice")
    func alreadyUsedBeforeThenExpiredIsSettled() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        let told = try await client.fetch(Self.request(on: server))
        #expect(told.purchase?.state == .unknown)
        let heard = try #require(try client.ledger.purchase(first.id)?.saidUsedAtMillis)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        do {
            _ = try await client.fetch(Self.request(on: server))
            Issue.record("an authorization a server said was used was paid again")
        } catch let error as ClientError {
            #expect(error.code == .serverRefused)
            #expect(error.message.contains("said earlier"))
        }
        let purchase = try #require(try client.ledger.purchase(first.id))
        #expect(purchase.state == .settled)
        #expect(purchase.saidUsedAtMillis == heard)
        #expect(try client.ledger.purchases().map(\.id) == [first.id])
        #expect(Set(X402Fixture.nonces(server)) == [first.nonce])
        try await server.stop()
    }

    /// "Already used" heard in the last seconds before validBefore (sent once, as closing in): kept, so the expired
    /// purchase ends settled whatever the server says after.
    @Test("'already used' heard close to its validBefore is kept: once expired, settled")
    func alreadyUsedCloseToValidBeforeIsKept() async throws {
        let (clock, replies, server, client, first) = try await Self.afterAnUnluckyFirstRun()

        replies.always(X402Fixture.paymentRequired(error: Reason.nonceAlreadyUsed.rawValue))
        clock.set(seconds: first.validBefore - 10)
        try await Self.expectInDoubt(client, server: server)
        #expect(try client.ledger.purchase(first.id)?.saidUsedAtMillis != nil)

        replies.always(X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before"))
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        await #expect(throws: ClientError.self) { _ = try await client.fetch(Self.request(on: server)) }
        #expect(try client.ledger.purchase(first.id)?.state == .settled)
        #expect(try client.ledger.purchases().count == 1)
        try await server.stop()
    }
}
