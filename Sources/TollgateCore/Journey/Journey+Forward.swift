import HTTPTypes

import Crypto

/// Stage `forward`: the paid request goes upstream with the signed contract, and the final decision applies:
/// the route's moment of consumption, then the private-field filter. What is not consumed is not charged.
extension Journey {
    /// A consumed answer waiting to be charged, with what its settlement intent keeps: the answer prepared for
    /// the client's retry and the usage it records.
    struct Delivered: Sendable {
        var answer: UpstreamResponse
        var consumed: Int
        var events: [AuditEvent]
        var bodyDigest: String
        var prepared: StoredResponse?
        var metering: MeteringRecord
    }

    mutating func deliver(_ paid: PaidFlow, events: [AuditEvent]) -> Action {
        if paid.pricing.metering.settle == .before { return settle(paid, nil, events: events) }
        state = .forwarding(paid, events: events)
        return .forward(paid.contract(atSeconds: nowMillis / 1000))
    }

    mutating func forwarded(_ delivery: PaidDelivery, _ paid: PaidFlow) -> Action {
        switch delivery {
        case .failed(let answer, let reason, let detail, let events):
            // Not delivered, so not settled: the same proof may be presented again.
            if let answer {
                let denied = event(.respond, .denied, reason, ["status": String(answer.status.code), "settled": "false"])
                return finish(.release(paid.proof.key, events: events + [denied], then: .passedOn(answer, paid.route, paid.identity, extra: [:])))
            }
            return finish(.release(paid.proof.key, events: events, then: .deny(Denial(
                status: .badGateway, error: "bad_gateway", stage: .respond, reason: reason, detail: "\(detail); nothing was charged", durable: true))))
        case .delivered(let answer, let consumed, let events):
            // The answer exists before settlement: it is kept with the intent, so a settlement resolved later
            // (after a crash or a timeout) can still be delivered to the client's retry.
            let delivered = Delivered(answer: answer, consumed: consumed, events: events,
                                      bodyDigest: HexString.encode(SHA256.hash(data: answer.body)),
                                      prepared: paid.storable(answer, fields: HopByHop.response(answer.headerFields), settings: settings, atMillis: nowMillis),
                                      metering: paid.metering(consumed: consumed, atMillis: nowMillis))
            return settle(paid, delivered, events: events)
        }
    }
}

/// Everything the delivery steps of one paid flow need.
extension PaidFlow {
    /// One payer, one spelling from a valid local verdict on (the upstream's `Tollgate-Payer`, the middleware's context):
    /// the address the signature recovered, as the rail writes it (EIP-55), whatever letter case the proof used.
    mutating func spellPayer(as verdict: Verdict) {
        if let payer = verdict.acceptedPayer, !payer.isEmpty, payer.lowercased() == proof.key.payer { proof.payer = payer }
    }
}

struct PaidFlow: Sendable {
    var request: GatewayRequest
    var route: Route
    /// The terms quoted for this request.
    var pricing: Route.Pricing
    var identity: Identity
    var proof: PaymentProof
    var offer: SignedOffer
    var flow: Flow
    /// The token of this request's delivery, should it deliver (or serve again) a settled answer.
    var delivery: DeliveryToken
}

/// How forwarding a paid request ended.
enum PaidDelivery: Sendable {
    /// Consumed: the (filtered) answer and the units it consumed.
    case delivered(answer: UpstreamResponse, consumed: Int, events: [AuditEvent])
    /// Not consumed: the upstream's own answer when it gave one, and why.
    case failed(answer: UpstreamResponse?, reason: Reason, detail: String, events: [AuditEvent])
}

extension PaidFlow {
    /// This request's delivery of its settled answer, as a door is told of it.
    var settledDelivery: SettledDelivery { SettledDelivery(correlationId: flow.correlationId, key: proof.key, token: delivery) }

    /// What the backend is told about this paid request (signed into the contract fields).
    func contract(atSeconds now: Int64) -> ContractSigner.Contract {
        let offer = offer.offer
        return ContractSigner.Contract(client: identity.clientId, payer: proof.payer, amount: "\(offer.amount) \(offer.asset)@\(offer.network)",
                                       unit: "\(offer.unit)=\(offer.quantity)", correlationId: flow.correlationId, timestamp: now)
    }

    /// The final decision on an upstream's answer: consumed at the route's moment of consumption (the units it
    /// consumed measured), private fields removed for a client without their scope; or not delivered, and why.
    func judge(_ result: Result<UpstreamResponse, Journey.Failure>, elapsedMillis: Int64, atMillis now: Int64,
               events: [AuditEvent]) -> PaidDelivery {
        var events = events
        let metering = pricing.metering
        guard case .success(var answer) = result else {
            if case .failure(let failure) = result {
                events.append(flow.event(.forward, .error, .upstreamUnavailable, atMillis: now, ["detail": failure.detail]))
            }
            return .failed(answer: nil, reason: .upstreamUnavailable, detail: "the upstream did not answer", events: events)
        }
        let facts = ["status": String(answer.status.code), "latency_ms": String(elapsedMillis)]
        guard answer.isFinal, metering.consumes(status: answer.status.code) else {
            events.append(flow.event(.forward, .ok, .upstreamRefused, atMillis: now, facts))
            return .failed(answer: answer, reason: .upstreamRefused, detail: "the upstream refused the request", events: events)
        }
        events.append(flow.event(.forward, .ok, atMillis: now, facts))
        let consumed = metering.consumedUnits(answer, quoted: flow.requested, elapsedMillis: elapsedMillis)
        switch DeliveryFilter.privateFields(answer, route: route, identity: identity, flow: flow, atMillis: now) {
        case .success(let (filtered, filterEvents)):
            answer = filtered
            events.append(contentsOf: filterEvents)
        case .failure(let refusal):
            events.append(contentsOf: refusal.events)
            return .failed(answer: nil, reason: refusal.reason, detail: refusal.detail, events: events)
        }
        return .delivered(answer: answer, consumed: consumed, events: events)
    }
}

/// The route's private fields, removed unless the client holds their scope. Private data that cannot be
/// filtered is not delivered (and so not charged).
enum DeliveryFilter {
    static func privateFields(_ answer: UpstreamResponse, route: Route, identity: Identity, flow: Flow,
                       atMillis now: Int64) -> Result<(UpstreamResponse, [AuditEvent]), Gateway.DeliveryRefusal> {
        guard let rule = route.privateFields, !identity.holds(rule.scope) else { return .success((answer, [])) }
        guard let filtered = JSONFieldFilter.strip(answer.body, fields: rule.fields) else {
            let reason = Reason("unfilterable_response")
            return .failure(Gateway.DeliveryRefusal(reason: reason, detail: "the response could not be filtered for this client",
                                            events: [flow.event(.decide, .denied, reason, atMillis: now, ["settled": "false"])]))
        }
        var copy = answer
        copy.body = filtered.body
        guard filtered.removed > 0 else { return .success((copy, [])) }
        return .success((copy, [flow.event(.decide, .ok, Reason("private_fields_removed"), atMillis: now,
                                           ["fields": rule.fields.sorted().joined(separator: ","), "removed": String(filtered.removed)])]))
    }
}
