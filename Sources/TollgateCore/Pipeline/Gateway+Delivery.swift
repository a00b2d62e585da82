import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// Sends the paid request upstream and applies the final decision (`PaidFlow.judge`).
    func forward(_ paid: PaidFlow, events: [AuditEvent]) async -> PaidDelivery {
        let started = clock.nowMillis()
        let result: Result<UpstreamResponse, Journey.Failure>
        do {
            result = .success(try await upstream.send(upstreamRequest(paid.request, contract: paid.contract(atSeconds: clock.nowSeconds))))
        } catch {
            result = .failure(Journey.Failure(error))
        }
        let now = clock.nowMillis()
        return paid.judge(result, elapsedMillis: now - started, atMillis: now, events: events)
    }

    func paymentRecord(_ paid: PaidFlow, transaction: String, bodyDigest: String) -> PaymentRecord {
        paid.paymentRecord(transaction: transaction, bodyDigest: bodyDigest, atMillis: clock.nowMillis())
    }

    func receipt(_ paid: PaidFlow, answer: UpstreamResponse, settlement: Settlement) -> (GatewayResponse, StoredResponse?) {
        paid.receipt(answer, receiptFields: rail.receiptFields(settlement), settings: settings, atMillis: clock.nowMillis())
    }

    func deliveryEvents(_ paid: PaidFlow, answer: UpstreamResponse, consumed: Int, bodyDigest: String) -> [AuditEvent] {
        paid.deliveryEvents(answer, consumed: consumed, bodyDigest: bodyDigest, atMillis: clock.nowMillis())
    }

    func metering(_ paid: PaidFlow, consumed: Int) -> MeteringRecord {
        paid.metering(consumed: consumed, atMillis: clock.nowMillis())
    }
}

/// Everything the delivery steps of one paid flow need.
struct PaidFlow: Sendable {
    var request: GatewayRequest
    var route: Route
    /// The terms quoted for this request.
    var pricing: Route.Pricing
    var identity: Identity
    var proof: PaymentProof
    var offer: SignedOffer
    var flow: Flow
}

/// How forwarding a paid request ended.
enum PaidDelivery: Sendable {
    /// Consumed: the (filtered) answer and the units it consumed.
    case delivered(answer: UpstreamResponse, consumed: Int, events: [AuditEvent])
    /// Not consumed: the upstream's own answer when it gave one, and why.
    case failed(answer: UpstreamResponse?, reason: Reason, detail: String, events: [AuditEvent])
}
