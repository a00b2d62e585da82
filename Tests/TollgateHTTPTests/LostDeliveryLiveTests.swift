import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateX402

/// The Hummingbird door and a settled answer that never reached its client, paid by a client naming its payment
/// (`payment-identifier`), so it can fetch the answer again: kept for that retry, not refunded, and the retry of the
/// same proof is served it without the handler running or the facilitator settling again.
@Suite struct LostDeliveryLiveTests {
    @Test func anAnswerLostOnItsWayIsServedToTheSameProofAgainAndNotRefunded() async throws {
        try await MiddlewareStack.with { stack, _ in
            let send = stack.sendBare
            let header = try #require(try await send([:]).headers[.paymentRequiredField])
            let terms = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            var payment = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            payment.extensions = [X402.paymentIdentifierExtension: .object(["info": .object(["id": .string("pay_lost_answer_0001")])])]
            let proof = HeaderCodec.encode(payment)

            let lost = try await send([.paymentSignatureField: proof])
            #expect(lost.status.code == 200)
            let flow = try #require(lost.headers[.tollgateCorrelationId])
            await #expect(throws: BrokenConnection.self) { try await lost.body.write(BrokenConnection()) }
            let events = try await stack.store.events(correlationId: flow)
            #expect(events.last { $0.event.reason == "connection_failed" }?.event.details["then"] == "kept_for_retry")

            let retry = try await send([.paymentSignatureField: proof])
            #expect(retry.status.code == 200)
            #expect(retry.headers[.tollgateCorrelationId] == flow)
            let collected = CollectedBody()
            try await retry.body.write(CollectingWriter(into: collected))
            #expect(String(buffer: collected.buffer.withLock { $0 }) == "quote")
            #expect(await stack.handlers.runs("/quotes/ACME") == 1)
            #expect(try await stack.facilitator.ledger.transferCount() == 1)
            #expect(try await stack.store.refunds(state: nil, correlationId: flow, limit: 5).isEmpty)
            // Delivered to the retry: nothing is left for the reconciler to refund.
            #expect(try await stack.store.unresolvedSettlements(limit: 10).isEmpty)
        }
    }
}

/// What a response body wrote.
final class CollectedBody: Sendable {
    let buffer = Mutex(ByteBuffer())
}

/// Writes a response body into a `CollectedBody`.
struct CollectingWriter: ResponseBodyWriter {
    let into: CollectedBody
    func write(_ buffer: ByteBuffer) async throws { into.buffer.withLock { $0.writeImmutableBuffer(buffer) } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
