import Crypto

/// Stage `verify` for a proof that echoes no offer (x402 v1 `X-PAYMENT`). Such a proof is bound instead to what the
/// gateway can see now: the request it arrives with, the client that sends it and the current price. The offer it is
/// checked against is the one this gateway would make for that request, in the way to pay the authorization names
/// (network, payee, amount), signed like any offer so the claim, the evidence and the audit trail read as usual.
///
/// The flow's correlation id is derived from the authorization, the client, the request and its body: the same proof
/// sent again for the same request is the same purchase (its claim is resumed, its answer replayed), and the same
/// proof anywhere else (another client, another route, another body, or spelled as x402 v2) is a replay.
extension Journey {
    /// - Parameter refusedHere: the route does not take this rail; the proof is refused unless it is the retry of a
    ///   purchase made while it did (its claim is then resumed).
    mutating func bindToRequest(_ priced: Priced, _ proof: PaymentProof, received: [String: String], refusedHere: Bool = false) -> Action {
        let onNetwork = priced.pricing.accepts.filter { $0.asset.network == proof.key.network }
        guard let first = onNetwork.first else {
            let reason = refusedHere ? wire.formatRefused : .offerTermsMismatch
            return refuse(priced, reason, received: received,
                          detail: "this request is not paid on \(proof.network); pay one of the offers of a fresh 402")
        }
        let amount = TokenAmount(atomic: proof.amount)
        let payee = proof.payee.lowercased()
        let fitting = onNetwork.filter { $0.amount == amount && $0.payTo.lowercased() == payee }
        if Set(fitting.map { $0.asset.address.lowercased() }).count > 1 {
            return refuse(priced, refusedHere ? wire.formatRefused : .offerTermsMismatch, received: received,
                          detail: "several assets on \(proof.network) are offered at this amount, and this proof format cannot name one; "
                              + "pay with the format that echoes the offer")
        }
        // Without a fitting way to pay, the first on the network is the offer: local verification then names what differs.
        let acceptance = fitting.first ?? first
        var bound = proof
        bound.asset = acceptance.asset.address.lowercased()
        bound.accepted.asset = bound.asset
        bound.accepted.maxTimeoutSeconds = priced.pricing.maxTimeoutSeconds
        bound.key = ProofKey(network: proof.key.network, asset: bound.asset, payer: proof.key.payer, nonce: proof.key.nonce)
        var received = received
        received["asset"] = bound.asset
        let requestLine = request.requestLine
        let digest = RequestTarget.bodyDigest(request.body)
        let offer = Offer(
            correlationId: Self.requestBoundCorrelationId(bound.key, client: priced.identity.clientId, request: requestLine, bodyDigest: digest),
            resource: priced.route.resource, request: requestLine, bodyDigest: digest, client: priced.identity.clientId,
            network: acceptance.asset.network, asset: acceptance.asset.address, amount: acceptance.amount, payTo: acceptance.payTo,
            unit: priced.pricing.unit, quantity: priced.pricing.quantity, maxTimeoutSeconds: priced.pricing.maxTimeoutSeconds,
            // The authorization's own end is the offer's: a late retry of this purchase is recognised as one (Journey+Retry).
            // The client chose it: bounded, so that a validBefore millions of years away computes like any other.
            expiresAt: Offer.boundedExpiry(Int64(proof.validBefore) ?? arrivalSeconds))
        flow.correlationId = offer.correlationId
        let paid = PaidFlow(request: request, route: priced.route, pricing: priced.pricing, identity: priced.identity, proof: bound,
                            offer: settings.offers.sign(offer), flow: flow, delivery: delivery)
        if refusedHere {
            return lookUpBoundRetry(paid, Refusal(reason: wire.formatRefused,
                                                 detail: "this resource does not accept \(wire.proofFormat); pay one of the offers of a fresh 402",
                                                 received: received))
        }
        if offer.expiresAt < arrivalSeconds {
            return lookUpBoundRetry(paid, Refusal(reason: wire.authorizationExpired, detail: "the authorization has expired", received: received))
        }
        state = .verifyingLocally(paid, received: received)
        return .verifyLocally(bound, offer, atSeconds: nil)
    }

    /// A request-bound proof refused for something that may have changed since it was first used (the price, the payee,
    /// its expiry, the route's formats) may still be the retry of that purchase: its claim, under the same derived
    /// correlation id, is looked for before the proof is refused. Against the terms the proof signed, not today's, and
    /// only where its signature holds as of the claim (Journey+Retry).
    mutating func lookUpBoundRetry(_ paid: PaidFlow, _ refusal: Refusal) -> Action {
        var asSigned = paid
        var offer = paid.offer.offer
        if let amount = TokenAmount(atomic: paid.proof.amount) { offer.amount = amount }
        offer.payTo = paid.proof.payee.lowercased()
        asSigned.offer = settings.offers.sign(offer)
        return lookUpLateRetry(asSigned, refusal)
    }

    /// `tg_` and 32 hex digits, like `CorrelationId.make()`, from what the purchase is: one authorization, one client,
    /// one request.
    static func requestBoundCorrelationId(_ key: ProofKey, client: String, request: String, bodyDigest: String?) -> String {
        let material = ["tollgate-request-bound-flow", key.description, client, request, bodyDigest ?? ""].joined(separator: "\n")
        return "tg_" + HexString.encode(Array(SHA256.hash(data: Array(material.utf8)).prefix(16)))
    }
}
