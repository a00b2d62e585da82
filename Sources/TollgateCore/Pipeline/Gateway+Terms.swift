import HTTPTypes

/// A 402's terms, rendered whole (`renderTerms`) or learnt once and filled (`TermsTemplate`), and which rails can be paid.
extension Gateway {
    /// What a 402 states besides the values of its request (`TermsTemplate.Values`).
    struct Terms {
        var route: Route
        var pricing: Route.Pricing
        /// The rails that can take a payment now, each with the networks it can take it on.
        var payable: [(rail: any PaymentRail, networks: Set<String>)]
        var accepts: [Route.Acceptance]
        /// `payment_required` on a first request; the refusal's reason on a 402 that refuses a proof.
        var reason: Reason
        var discovery: Discovery?
    }

    /// The header fields and the body of a 402, rendered whole.
    static func renderTerms(_ terms: Terms, offers: [SignedOffer], values: TermsTemplate.Values) -> (fields: HTTPFields, body: [UInt8]) {
        let first = terms.reason == .paymentRequired
        let route = terms.route, pricing = terms.pricing
        let challenge = PaymentChallenge(
            resourceURL: values.resourceURL, description: route.description, mimeType: route.mimeType,
            offers: offers, error: first ? "Payment required" : terms.reason.rawValue, discovery: terms.discovery)
        var fields = HTTPFields()
        var railMembers: [String: RawJSON] = [:]
        for (rail, networks) in terms.payable {
            var own = challenge
            own.offers = offers.filter { networks.contains($0.offer.network) }
            fields.append(contentsOf: rail.challengeFields(own))
            railMembers.merge(rail.challengeBody(own)) { first, _ in first }
        }
        fields[.tollgateCorrelationId] = values.correlationId
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        let body = TermsBody(
            error: "payment_required", reason: terms.reason.rawValue,
            detail: values.detail ?? (first ? "this resource is paid: " + terms.payable.map(\.rail.wire.paymentHint).joined(separator: "; or ")
                                           : "the payment was not accepted: \(terms.reason.rawValue); a fresh offer is attached"),
            correlationId: values.correlationId, offerCorrelationId: values.offerCorrelationId,
            resource: .init(id: route.resource, url: values.resourceURL, description: route.description, mimeType: route.mimeType),
            price: pricing.price, unitPrice: pricing.unitPrice, unit: pricing.unit, quantity: pricing.quantity,
            package: pricing.metering.package.map { .init(name: $0.name, units: $0.units) },
            accepts: terms.accepts.map { .init(asset: $0.asset.id, network: $0.asset.network, address: $0.asset.address,
                                               amount: $0.amount.atomic, payTo: $0.payTo) },
            proofFormat: terms.payable.map(\.rail.wire.proofFormat).joined(separator: "; "),
            expiresAt: values.expiresAt, client: values.client, railMembers: railMembers)
        return (fields, JSONBody.encode(body))
    }

    /// The offers with the template's values (`TermsTemplate.make`), and everything else a request puts in an offer
    /// drawn from `seed`, so that a rail writing any of it directly is caught.
    static func standIns(for offers: [SignedOffer], values: TermsTemplate.Values, seed: Int64) -> [SignedOffer] {
        offers.enumerated().map { index, signed in
            var offer = signed.offer
            offer.correlationId = values.offerCorrelationId ?? values.correlationId
            offer.client = values.client
            offer.request = "GET /stand-in/\(seed)"
            offer.bodyDigest = "digest-\(seed)"
            offer.expiresAt = 1_000_000 * seed + 7
            return SignedOffer(offer: offer, token: values.tokens[index])
        }
    }
}

/// Which of a route's accepted assets each of the gateway's rails can take a payment in now: asked once per 402.
struct Readiness {
    /// Rail by accepted asset, row by row.
    private let matrix: [Bool]
    private let assetCount: Int

    init(rails: [any PaymentRail], route: Route, accepts: [Route.Acceptance]) {
        var matrix = [Bool](repeating: false, count: rails.count * accepts.count)
        for (railIndex, rail) in rails.enumerated() where route.accepts(rail: rail.name) {
            for (assetIndex, acceptance) in accepts.enumerated() where rail.isReady(network: acceptance.asset.network) {
                matrix[railIndex * accepts.count + assetIndex] = true
            }
        }
        self.matrix = matrix
        self.assetCount = accepts.count
    }

    private func payable(rail: Int, asset: Int) -> Bool { matrix[rail * assetCount + asset] }

    /// The accepted assets some rail can take a payment in now, in the route's order.
    func payableAccepts(_ accepts: [Route.Acceptance]) -> [Route.Acceptance] {
        let rails = assetCount == 0 ? 0 : matrix.count / assetCount
        return accepts.indices.filter { asset in (0..<rails).contains { payable(rail: $0, asset: asset) } }.map { accepts[$0] }
    }

    /// The rails that can take a payment now, each with the networks it can take it on.
    func payableRails(_ rails: [any PaymentRail], accepts: [Route.Acceptance]) -> [(rail: any PaymentRail, networks: Set<String>)] {
        rails.indices.compactMap { rail in
            let networks = Set(accepts.indices.filter { payable(rail: rail, asset: $0) }.map { accepts[$0].asset.network })
            return networks.isEmpty ? nil : (rails[rail], networks)
        }
    }

    /// One bit per rail and accepted asset that can be paid now (what a terms template depends on); nil past 64.
    var bits: UInt64? {
        guard matrix.count <= 64 else { return nil }
        var bits: UInt64 = 0
        for (index, payable) in matrix.enumerated() where payable { bits |= 1 << UInt64(index) }
        return bits
    }
}
