import Foundation
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

/// Runs of one request that overlap: the ledger's transaction decides which signs, and the other sends what it signed.
/// The server never settles the new authorization (503 "payment in progress"), so it stays in doubt for as long as the
/// test lasts: whichever order the runs take, a second signature could only come from a run that ignored it (a run
/// starting after a delivery is a new purchase, which is why nothing here is delivered).
@Suite("Runs of one request at once: one authorization between them, before and after an old one expired")
struct PaymentInDoubtRaceTests {
    /// Two runs of `request` at once; the errors they ended with.
    static func twoRuns(_ client: PaymentClient, _ request: PaymentClient.Request) async -> [ClientError.Code?] {
        @Sendable func run() async -> ClientError.Code? {
            do {
                _ = try await client.fetch(request)
                return nil
            } catch {
                return (error as? ClientError)?.code
            }
        }
        async let one = run()
        async let other = run()
        return await [one, other]
    }

    @Test("two runs at once of a request never paid: one authorization, sent by both")
    func twoRunsOfANewPurchase() async throws {
        let server = try await PaymentInDoubtTests.server(PaidReplies([], otherwise: X402Fixture.inProgress))
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: ManualClock())
        let endings = await Self.twoRuns(client, PaymentInDoubtTests.request(on: server))

        #expect(endings.allSatisfy { $0 == .unreachable || $0 == .paymentInDoubt }, "\(endings)")
        #expect(try client.ledger.purchases().count == 1)
        #expect(X402Fixture.nonces(server).count == 1)
        try await server.stop()
    }

    @Test("two runs at once after the old authorization expired unpaid: it lapses, and one new authorization between them")
    func twoRunsAfterValidBefore() async throws {
        let clock = ManualClock()
        let replies = PaidReplies([.drop], otherwise: X402Fixture.inProgress)
        let server = try await PaymentInDoubtTests.server(replies)
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)
        let first = try await PaymentInDoubtTests.unluckyFirstRun(client, server: server)

        let oldNonce = first.nonce
        replies.answer { nonce in
            nonce == oldNonce ? X402Fixture.paymentRequired(error: "invalid_exact_evm_payload_authorization_valid_before") : X402Fixture.inProgress
        }
        clock.set(seconds: first.validBefore + Purchase.expirySkewSeconds)
        let endings = await Self.twoRuns(client, PaymentInDoubtTests.request(on: server))

        #expect(endings.allSatisfy { $0 == .unreachable || $0 == .paymentInDoubt }, "\(endings)")
        let purchases = try client.ledger.purchases()
        #expect(purchases.count == 2, "\(purchases.map(\.state))")
        #expect(try client.ledger.purchase(first.id)?.state == .lapsed)
        #expect(X402Fixture.nonces(server).count == 2)
        try await server.stop()
    }
}
