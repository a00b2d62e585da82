import HTTPTypes

/// Stage `admit`: the cheapest refusals first, before a large body is read. A caller out of budget for its
/// class is refused (a request with a proof by its invalid-proof budget, before the proof is decoded). Then the
/// body, and the quantity it asks for, which decides the price.
extension Journey {
    mutating func admit(_ admitted: Admitted) -> Action {
        // The caller's IP prefix, parsed once for both sets of keys.
        let prefix = request.remoteAddress.map { settings.limits.ipPrefix($0) }
        flow.limitKeys = admissionKeys(admitted.identity, ipPrefix: prefix)
        flow.invalidKeys = invalidProofKeys(admitted.identity, ipPrefix: prefix)
        let resource = admitted.route.resource
        // A client with a package balance is not counted as unpaid: its request may be funded by the balance.
        let prepaid = admitted.configured.metering.package != nil && admitted.identity != .anonymous
        let probes: [LimitProbe]
        if proofDigest == nil {
            probes = prepaid ? [] : [LimitProbe(trafficClass: .unpaid, resource: resource, keys: flow.limitKeys)]
        } else {
            probes = [LimitProbe(trafficClass: .invalid, resource: resource, keys: flow.invalidKeys),
                      LimitProbe(trafficClass: .paid, resource: resource, keys: flow.limitKeys)]
        }
        state = .checkingAdmission(admitted)
        return .peekLimits(probes)
    }

    mutating func limitsPeeked(_ refusal: TrafficLimits.Refusal?, _ admitted: Admitted) -> Action {
        if let refusal { return finish(.tooMany(refusal)) }
        state = .readingBody(.price(admitted))
        return .readBody
    }

    mutating func bodyRead(_ result: Result<[UInt8], Failure>, then after: AfterBody) -> Action {
        switch result {
        case .failure(let failure):
            return deny(.contentTooLarge, "content_too_large", .route, Reason("request_body_too_large"), detail: failure.detail)
        case .success(let body):
            request.body = body
            request.bodyReader = nil
        }
        if let place = MethodOverride.named(in: request) {
            return deny(.badRequest, "bad_request", .route, Reason("method_override"),
                        detail: "a POST naming another method (\(MethodOverride.parameter) in its \(place)) is not forwarded: "
                            + "send the request with that method")
        }
        switch after {
        case .passThrough(let route, let identity):
            return finish(.passThrough(route, identity))
        case .price(let admitted):
            return price(admitted)
        }
    }

    /// What this request asks for decides what it costs, so the 402 quotes the exact amount; a quantity that
    /// cannot be priced is a bad request, never a payment problem.
    mutating func price(_ admitted: Admitted) -> Action {
        switch admitted.configured.metering.requestedQuantity(request) {
        case .failure(let error):
            return deny(.badRequest, "bad_request", .decide, .invalidQuantity, detail: error.detail)
        case .success(let quantity):
            flow.requested = quantity
        }
        guard let pricing = admitted.configured.quoting(flow.requested) else {
            return deny(.badRequest, "bad_request", .decide, .invalidQuantity, detail: "the quantity is too large to price")
        }
        let priced = Priced(route: admitted.route, identity: admitted.identity, pricing: pricing)
        if let digest = proofDigest {
            state = .checkingRefusedProof(priced)
            return .lookUpRefusedProof(digest)
        }
        state = .decodingProof(priced)
        return .decodeProof
    }

    /// The invalid-proof budget of a request: an identified client's own (nobody else's refusals can exhaust
    /// it, whoever shares its address); an anonymous caller's IP prefix.
    func invalidProofKeys(_ identity: Identity, ipPrefix: String?) -> [LimitKey] {
        if case .client(let client) = identity { return [LimitKey("client", client.id)] }
        return [LimitKey("ip", ipPrefix ?? "unknown")]
    }

    /// A request counts against its client (when identified) and its IP prefix (when known: an in-process
    /// caller has none, and must not share one bucket with every other client).
    func admissionKeys(_ identity: Identity, ipPrefix: String?) -> [LimitKey] {
        let prefix = ipPrefix.map { LimitKey("ip", $0) }
        guard case .client(let client) = identity else { return [prefix ?? LimitKey("ip", "unknown")] }
        return [LimitKey("client", client.id)] + (prefix.map { [$0] } ?? [])
    }
}
