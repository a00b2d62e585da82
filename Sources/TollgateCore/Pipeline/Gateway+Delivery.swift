import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// `settle: before`: the payment is settled and recorded first; a request that is then not delivered
    /// gets an automatic refund record (`pending_payout`), named in its answer, or, with automatic refunds
    /// off, is held for manual review.
    func settleThenDeliver(_ paid: PaidFlow, events: [AuditEvent]) async -> GatewayResponse {
        let flow = paid.flow
        let charged = await charge(paid, prepared: nil, metering: nil, bodyDigest: "", events: events)
        guard case .settled(let settlement, let settleEvents) = charged else { return charged.stoppedResponse }
        do {
            try await store.finish(paid.proof.key, state: .settled, payment: paymentRecord(paid, transaction: settlement.transaction, bodyDigest: ""),
                                   response: nil, metering: nil, delivered: false, events: settleEvents)
        } catch {
            logger.critical("settled payment not recorded", metadata: [
                "tollgate.correlation_id": "\(flow.correlationId)", "tollgate.transaction": "\(settlement.transaction)", "tollgate.error": "\(error)",
            ])
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the payment settled (\(settlement.transaction)) but could not be recorded; support can trace this flow")
        }
        switch await forward(paid, events: []) {
        case .failed(let answer, let reason, let detail, let events):
            // What happened upstream is recorded first, so the trail reads forward → refund → respond.
            await appendDurably(events)
            var refund: Refund?
            // `refunds.automatic: false`: no refund record; the payment is held for an operator to decide.
            var facts = ["refund_id": ""]
            if settings.automaticRefunds {
                do {
                    refund = try await store.refund(RefundRequest(correlationId: flow.correlationId, reason: "not delivered: \(reason.rawValue)",
                                                                  actor: "tollgate", automatic: true), nowMillis: clock.nowMillis())
                    facts["refund_id"] = refund?.id
                } catch {
                    logger.critical("automatic refund not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
                }
            } else {
                facts["refund"] = "manual_review"
            }
            let owed = !settings.automaticRefunds ? "the payment is held for manual review (automatic refunds are off); support can trace this flow"
                : refund.map { "refund \($0.id) (\($0.amount) \($0.asset), pending payout) is recorded" }
                ?? "the refund could not be recorded; support can trace this flow"
            if let answer {
                await appendDurably([flow.event(.respond, .denied, reason, clock: clock,
                                                facts.merging(["status": String(answer.status.code), "settled": "true"]) { a, _ in a })])
                var extra = HTTPFields()
                if let refund { extra[.tollgateRefund] = refund.id }
                return await passedOn(answer, route: paid.route, identity: paid.identity, flow: flow, extra: extra)
            }
            var response = await deny(.badGateway, "bad_gateway", .respond, reason, flow: flow,
                                      detail: "\(detail); the payment had settled (\(settlement.transaction)), so \(owed)",
                                      extra: facts, durable: true)
            if let refund { response.headerFields[.tollgateRefund] = refund.id }
            return response
        case .delivered(let answer, let consumed, var events):
            let (response, stored) = receipt(paid, answer: answer, settlement: settlement)
            events.append(contentsOf: deliveryEvents(paid, answer: answer, consumed: consumed,
                                                     bodyDigest: HexString.encode(SHA256.hash(data: answer.body))))
            do {
                try await store.recordDelivery(paid.proof.key, response: stored, metering: metering(paid, consumed: consumed), events: events)
            } catch {
                logger.critical("delivery of a settled payment not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)"])
                return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                  detail: "the payment settled (\(settlement.transaction)) but the delivery could not be recorded; support can trace this flow")
            }
            return response
        }
    }

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

/// How a charge attempt ended.
enum PaidCharge: Sendable {
    case settled(Settlement, [AuditEvent])
    /// Pending, unknown, failed or suspended: the answer to send (the reservation is already finished).
    case stopped(GatewayResponse)

    /// The answer of a charge that did not settle (a settled charge is answered by delivery instead).
    var stoppedResponse: GatewayResponse {
        if case .stopped(let response) = self { return response }
        return GatewayResponse(status: .serviceUnavailable)
    }
}

/// How forwarding a paid request ended.
enum PaidDelivery: Sendable {
    /// Consumed: the (filtered) answer and the units it consumed.
    case delivered(answer: UpstreamResponse, consumed: Int, events: [AuditEvent])
    /// Not consumed: the upstream's own answer when it gave one, and why.
    case failed(answer: UpstreamResponse?, reason: Reason, detail: String, events: [AuditEvent])
}
