import Foundation
import Testing
import TollgateCore
import TollgateMCP
import TollgateX402
@testable import TollgateClient

/// The MCP door judges terms answering a proof by the HTTP door's rule: only a code of a refusal before settlement frees
/// the call.
extension ToolPaymentInDoubtTests {
    /// A tool server that answers every paid call with fresh terms and no reason (it may settle what it was shown): the
    /// call's authorization stays in doubt, later calls send it again, and nothing new is signed while it is valid.
    @Test("fresh terms without a reason to every paid tool call: one authorization for the call while it is valid")
    func freshTermsWithoutAReasonSignOneAuthorization() async throws {
        let server = ToolServer()
        server.script([], otherwise: { _ in ToolServer.paymentRequired() })
        let clock = ManualClock()
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: clock)

        let first = try #require(try await Self.call(client, server).purchase)
        #expect(first.state == .unknown)
        #expect(first.mayHaveMovedAtMillis != nil)
        for seconds in [clock.nowSeconds + 5, first.validBefore - 10] {
            clock.set(seconds: seconds)
            do {
                let outcome = try await Self.call(client, server)
                #expect(outcome.purchase?.id == first.id)
                #expect(outcome.resumed)
            } catch let error as ClientError {
                #expect(error.code == .paymentInDoubt, "\(error)")
            }
        }
        #expect(try client.ledger.purchases().map(\.id) == [first.id], "a second authorization was signed")
        #expect(server.nonces == [first.nonce])
    }

    /// A coded refusal before settlement (the x402 MCP server answers a failed verification with its reason) frees the
    /// call: the next call pays the fresh terms once.
    @Test("a tool call refused with a code before settlement frees the call: the next call pays once")
    func aCodedRefusalFreesTheCall() async throws {
        let server = ToolServer()
        server.script([ToolServer.paymentRequired(error: "invalid_exact_evm_payload_signature")], otherwise: { _ in ToolServer.delivered })
        let client = X402Fixture.client(try X402Fixture.temporaryLedger(), clock: ManualClock())

        let first = try #require(try await Self.call(client, server).purchase)
        #expect(first.state == .refused)
        let paid = try await Self.call(client, server)
        #expect(paid.succeeded)
        #expect(paid.purchase?.id != first.id)
        #expect(server.nonces.count == 2)
    }
}
