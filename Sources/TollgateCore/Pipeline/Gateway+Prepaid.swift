import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// How spending from a package balance went.
    enum PackageSpend: Sendable {
        /// The request was answered (delivered from the balance, or refused on the way).
        case answered(GatewayResponse)
        /// The balance does not cover it: offer the package.
        case insufficient(balance: Int)
    }

    /// A request on a package route with no proof: its units are held from the client's balance, the
    /// request is forwarded, and the units it consumed are spent (the rest go back). No payment, no 402.
    func spendPackage(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, package: Metering.Package,
                      client: ClientRecord, flow: Flow) async -> PackageSpend {
        if let refusal = settings.limits.admit(.paid, resource: route.resource, keys: flow.limitKeys, now: clock.nowSecondsPrecise) {
            return .answered(await tooMany(refusal, flow: flow))
        }
        let hold = UnitHold(correlationId: flow.correlationId, clientId: client.id, package: package.name, units: flow.requested)
        let remaining: Int
        do {
            let held = flow.event(.meter, .ok, Reason("units_held"), clock: clock, ["package": package.name, "units": String(flow.requested)])
            switch try await store.holdUnits(hold, events: [held]) {
            case .insufficient(let balance): return .insufficient(balance: balance)
            case .held(let left): remaining = left
            }
        } catch {
            let event = flow.event(.meter, .error, .storeUnavailable, clock: clock, ["detail": "\(error)"])
            return .answered(await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot read package balances right now", events: [event]))
        }

        let metering = pricing.metering
        let contract = ContractSigner.Contract(client: client.id, payer: "", amount: "package \(package.name)",
                                               unit: "\(pricing.unit)=\(flow.requested)", correlationId: flow.correlationId,
                                               timestamp: clock.nowSeconds)
        let identity = Identity.client(client)
        let started = clock.nowMillis()
        var answer: UpstreamResponse
        do {
            answer = try await upstream.send(upstreamRequest(request, contract: contract))
        } catch {
            await spendUnits(0, flow: flow, usage: nil, events: [
                flow.event(.forward, .error, .upstreamUnavailable, clock: clock, ["detail": "\(error)"]),
            ])
            return .answered(await deny(.badGateway, "bad_gateway", .respond, .upstreamUnavailable, flow: flow,
                                        detail: "the upstream did not answer; no units were spent", durable: true))
        }
        let elapsed = clock.nowMillis() - started
        let facts = ["status": String(answer.status.code), "latency_ms": String(elapsed)]
        guard metering.consumes(status: answer.status.code) else {
            await spendUnits(0, flow: flow, usage: nil, events: [
                flow.event(.forward, .ok, .upstreamRefused, clock: clock, facts),
                flow.event(.respond, .denied, .upstreamRefused, clock: clock, ["status": String(answer.status.code), "units_spent": "0"]),
            ])
            return .answered(await passedOn(answer, route: route, identity: identity, flow: flow))
        }
        var events = [flow.event(.forward, .ok, clock: clock, facts)]
        let consumed = metering.consumedUnits(answer, quoted: flow.requested, elapsedMillis: elapsed)
        switch DeliveryFilter.privateFields(answer, route: route, identity: identity, flow: flow, atMillis: clock.nowMillis()) {
        case .success(let (filtered, filterEvents)):
            answer = filtered
            events.append(contentsOf: filterEvents)
        case .failure(let refusal):
            await spendUnits(0, flow: flow, usage: nil, events: events + refusal.events)
            return .answered(await deny(.badGateway, "bad_gateway", .respond, refusal.reason, flow: flow,
                                        detail: "\(refusal.detail); no units were spent", durable: true))
        }
        let left = max(0, remaining + flow.requested - consumed)
        events.append(flow.event(.meter, .ok, Reason("units_consumed"), clock: clock, [
            "unit": pricing.unit, "consumed": String(consumed), "held": String(flow.requested), "source": "package", "package": package.name,
        ]))
        events.append(flow.event(.respond, .ok, .delivered, clock: clock, [
            "status": String(answer.status.code), "settled": "prepaid", "body_sha256": HexString.encode(SHA256.hash(data: answer.body)),
            "bytes": String(answer.body.count),
        ]))
        let usage = UsageEvent(correlationId: flow.correlationId, clientId: client.id, payer: "", resource: route.resource, unit: pricing.unit,
                               quantity: consumed, paidQuantity: flow.requested, source: .package, amount: "0", asset: "", atMillis: clock.nowMillis())
        // Content bought with units is never served without its record.
        guard await spendUnits(consumed, flow: flow, usage: usage, events: events) else {
            return .answered(await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                        detail: "the gateway cannot record this delivery right now; retry later"))
        }
        var fields = HopByHop.response(answer.headerFields)
        fields[.cacheControl] = "private"
        fields[.tollgatePackageBalance] = "\(left) \(pricing.unit)"
        return .answered(GatewayResponse(status: answer.status, headerFields: fields, body: answer.body))
    }

    /// Ends the hold: `consumed` units are spent, the rest go back. False (logged) when the store failed;
    /// the hold then stays, so units are never spent twice nor given away.
    @discardableResult
    private func spendUnits(_ consumed: Int, flow: Flow, usage: UsageEvent?, events: [AuditEvent]) async -> Bool {
        do {
            try await store.finishUnits(correlationId: flow.correlationId, consumed: consumed, usage: usage, events: events)
            return true
        } catch {
            logger.error("package spend not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
            return false
        }
    }

    /// Why a delivered answer cannot be passed on.
    struct DeliveryRefusal: Error {
        var reason: Reason
        var detail: String
        var events: [AuditEvent]
    }

    /// An upstream answer passed on as it is (a free route, an answer that was not charged): private fields are
    /// removed from it as from a paid one, and one that cannot be filtered is not passed on at all.
    func passedOn(_ answer: UpstreamResponse, route: Route?, identity: Identity, flow: Flow,
                  extra: HTTPFields = [:]) async -> GatewayResponse {
        var fields = HopByHop.response(answer.headerFields)
        fields.append(contentsOf: extra)
        guard let route else { return GatewayResponse(status: answer.status, headerFields: fields, body: answer.body) }
        switch DeliveryFilter.privateFields(answer, route: route, identity: identity, flow: flow, atMillis: clock.nowMillis()) {
        case .success(let (filtered, events)):
            for event in events { await audit.record(event) }
            return GatewayResponse(status: answer.status, headerFields: fields, body: filtered.body)
        case .failure(let refusal):
            for event in refusal.events { await audit.record(event) }
            return await deny(.badGateway, "bad_gateway", .respond, refusal.reason, flow: flow, detail: refusal.detail)
        }
    }
}

extension HTTPField.Name {
    /// The refund recorded for a settled request that was not delivered.
    public static let tollgateRefund = HTTPField.Name("Tollgate-Refund")!
    /// Units left in the client's package after a prepaid request.
    public static let tollgatePackageBalance = HTTPField.Name("Tollgate-Package-Balance")!
}
