import Crypto
import HTTPTypes

/// Stage `meter` for prepaid requests: a request on a package route with no proof, from a client holding a
/// balance, has its units held, is forwarded, and spends the units it consumed (the rest go back). No payment,
/// no 402; a balance that does not cover it is offered the package instead.
extension Journey {
    mutating func spendPackage(_ prepaid: Prepaid) -> Action {
        state = .admittingPackage(prepaid)
        return .admit(LimitProbe(trafficClass: .paid, resource: prepaid.priced.route.resource, keys: flow.limitKeys))
    }

    mutating func packageAdmitted(_ refusal: TrafficLimits.Refusal?, _ prepaid: Prepaid) -> Action {
        if let refusal { return finish(.tooMany(refusal)) }
        state = .holdingUnits(prepaid)
        let held = event(.meter, .ok, Reason("units_held"), ["package": prepaid.package.name, "units": String(flow.requested)])
        return .holdUnits(UnitHold(correlationId: flow.correlationId, clientId: prepaid.client.id, package: prepaid.package.name,
                                   units: flow.requested), events: [held])
    }

    mutating func unitsHeld(_ result: Result<UnitHoldOutcome, Failure>, _ prepaid: Prepaid) -> Action {
        switch result {
        case .failure(let failure):
            return finish(.unavailable(.storeUnavailable, detail: "the gateway cannot read package balances right now",
                                       events: [event(.meter, .error, .storeUnavailable, ["detail": failure.detail])]))
        case .success(.insufficient(let balance)):
            let detail = "the \(prepaid.package.name) balance (\(balance) \(prepaid.priced.pricing.unit) units) does not cover this request "
                + "(\(flow.requested)); pay one of the offers to buy \(prepaid.package.units) more"
            return admitUnpaid(prepaid.priced, detail: detail)
        case .success(.held(let remaining)):
            state = .forwardingPrepaid(prepaid, remaining: remaining)
            return .forward(ContractSigner.Contract(client: prepaid.client.id, payer: "", amount: "package \(prepaid.package.name)",
                                                    unit: "\(prepaid.priced.pricing.unit)=\(flow.requested)", correlationId: flow.correlationId,
                                                    timestamp: nowMillis / 1000))
        }
    }

    mutating func prepaidAnswered(_ result: Result<UpstreamResponse, Failure>, elapsedMillis: Int64, _ prepaid: Prepaid,
                                  remaining: Int) -> Action {
        let route = prepaid.priced.route, pricing = prepaid.priced.pricing, identity = Identity.client(prepaid.client)
        guard case .success(var answer) = result else {
            let detail = if case .failure(let failure) = result { failure.detail } else { "" }
            let denied = Answer.deny(Denial(status: .badGateway, error: "bad_gateway", stage: .respond, reason: .upstreamUnavailable,
                                            detail: "the upstream did not answer; no units were spent", durable: true))
            return spendUnits(0, usage: nil, events: [event(.forward, .error, .upstreamUnavailable, ["detail": detail])], then: denied)
        }
        let facts = ["status": String(answer.status.code), "latency_ms": String(elapsedMillis)]
        guard answer.isFinal, pricing.metering.consumes(status: answer.status.code) else {
            return spendUnits(0, usage: nil, events: [
                event(.forward, .ok, .upstreamRefused, facts),
                event(.respond, .denied, .upstreamRefused, ["status": String(answer.status.code), "units_spent": "0"]),
            ], then: .passedOn(answer, route, identity, extra: [:]))
        }
        var events = [event(.forward, .ok, nil, facts)]
        let consumed = pricing.metering.consumedUnits(answer, quoted: flow.requested, elapsedMillis: elapsedMillis)
        switch DeliveryFilter.privateFields(answer, route: route, identity: identity, flow: flow, atMillis: nowMillis) {
        case .success(let (filtered, filterEvents)):
            answer = filtered
            events.append(contentsOf: filterEvents)
        case .failure(let refusal):
            return spendUnits(0, usage: nil, events: events + refusal.events, then: .deny(Denial(
                status: .badGateway, error: "bad_gateway", stage: .respond, reason: refusal.reason,
                detail: "\(refusal.detail); no units were spent", durable: true)))
        }
        events.append(event(.meter, .ok, Reason("units_consumed"), [
            "unit": pricing.unit, "consumed": String(consumed), "held": String(flow.requested), "source": "package", "package": prepaid.package.name,
        ]))
        events.append(event(.respond, .ok, .delivered, [
            "status": String(answer.status.code), "settled": "prepaid", "body_sha256": HexString.encode(SHA256.hash(data: answer.body)),
            "bytes": String(answer.body.count),
        ]))
        let usage = UsageEvent(correlationId: flow.correlationId, clientId: prepaid.client.id, payer: "", resource: route.resource,
                               unit: pricing.unit, quantity: consumed, paidQuantity: flow.requested, source: .package, amount: "0", asset: "",
                               atMillis: nowMillis)
        var fields = HopByHop.response(answer.headerFields)
        fields[.cacheControl] = "private"
        fields[.tollgatePackageBalance] = "\(max(0, remaining + flow.requested - consumed)) \(pricing.unit)"
        // Content bought with units is never served without its record.
        let unrecorded = Answer.deny(Denial(status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .storeUnavailable,
                                            detail: "the gateway cannot record this delivery right now; retry later"))
        return spendUnits(consumed, usage: usage, events: events,
                          then: .delivered(GatewayResponse(status: answer.status, headerFields: fields, body: answer.body)), unrecorded: unrecorded)
    }

    /// Ends the hold, then answers; a spend of nothing that cannot be recorded leaves the hold, which gives
    /// nothing away, so its answer stands.
    mutating func spendUnits(_ consumed: Int, usage: UsageEvent?, events: [AuditEvent], then answer: Answer,
                             unrecorded: Answer? = nil) -> Action {
        state = .spendingUnits(answer, unrecorded: unrecorded ?? answer)
        return .finishUnits(correlationId: flow.correlationId, consumed: consumed, usage: usage, events: events)
    }
}
