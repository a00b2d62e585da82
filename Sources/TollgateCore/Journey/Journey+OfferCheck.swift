import HTTPTypes

/// Stage `verify`: the proof must echo an offer this gateway signed, for this client, this request and the
/// current price; its signature, amount, payee and time window must hold (no network); its payer must be
/// allowed. Cheapest checks first, so a forged or tampered proof never costs a store write or a facilitator call.
extension Journey {
    mutating func checkOffer(_ priced: Priced, _ proof: PaymentProof) -> Action {
        let received = [
            "payer": proof.payer, "network": proof.network, "asset": proof.asset, "amount": proof.amount,
            "nonce": proof.key.nonce, "rail": proof.rail,
        ]
        if !wire.echoesOffers { return bindToRequest(priced, proof, received: received, refusedHere: !priced.route.accepts(rail: proof.rail)) }
        guard priced.route.accepts(rail: proof.rail) else {
            return refuse(priced, wire.formatRefused, received: received,
                          detail: "this resource does not accept \(wire.proofFormat); pay one of the offers of a fresh 402")
        }
        guard let token = proof.accepted.offerToken else {
            return refuse(priced, .offerMissing, received: received,
                          detail: "the proof does not echo a Tollgate offer; pay one of the offers of a fresh 402")
        }
        guard case .success(let offer) = settings.offers.verify(token) else {
            return refuse(priced, .offerInvalid, received: received, detail: "the echoed offer was not signed by this gateway")
        }
        // The flow continues under the correlation id of the 402 that made the offer.
        flow.correlationId = offer.correlationId
        let paid = PaidFlow(request: request, route: priced.route, pricing: priced.pricing, identity: priced.identity, proof: proof,
                            offer: SignedOffer(offer: offer, token: token), flow: flow, delivery: delivery)
        if let (reason, detail) = mismatch(offer, priced, proof) {
            // Its own client's retry of its own request (`mismatch` checks those first) whose offer expired, or whose offer's
            // terms the operator no longer offers (a new price, payee or asset) may be a purchase in doubt or in flight:
            // never fresh terms before its claim is looked up, which a stock client would pay as well.
            let late = reason == .offerExpired || (reason == .offerTermsMismatch && Self.echoesTerms(of: offer, proof))
            return late ? lookUpLateRetry(paid, Refusal(reason: reason, detail: detail, received: received))
                : refuse(priced, reason, received: received, detail: detail)
        }
        state = .verifyingLocally(paid, received: received)
        return .verifyLocally(proof, offer, atSeconds: nil)
    }

    mutating func verifiedLocally(_ verdict: Verdict, _ paid: PaidFlow, received: [String: String]) -> Action {
        var paid = paid
        paid.spellPayer(as: verdict)
        if case .invalid(let reason, let detail) = verdict {
            let refusal = Refusal(reason: reason, detail: detail, received: received)
            // A proof bound to its request is judged on today's terms: one that no longer fits them may be the retry
            // of a purchase made on yesterday's.
            if !wire.echoesOffers, reason == wire.authorizationExpired || wire.termsRefusals.contains(reason) {
                return lookUpBoundRetry(paid, refusal)
            }
            return reason == wire.authorizationExpired ? lookUpLateRetry(paid, refusal)
                : refuse(priced(paid), reason, received: received, detail: detail)
        }
        state = .checkingPayer(paid, received: received)
        let signatureChecked = if case .signatureDeferred = verdict { false } else { true }
        return .checkPayer(payer: paid.proof.key.payer, network: paid.proof.network, signatureChecked: signatureChecked)
    }

    mutating func payerChecked(_ standing: PayerStanding, _ paid: PaidFlow, received: [String: String]) -> Action {
        if standing.refused {
            return finish(.deny(Denial(status: .forbidden, error: "forbidden", stage: .decide, reason: .payerRevoked,
                                       detail: "payments from this address are not accepted; nothing was charged",
                                       extra: [:], durable: false, before: [event(.proof, .received, nil, received)])))
        }
        if let limited = standing.limited { return finish(.tooMany(limited)) }
        var events = [
            event(.proof, .received, nil, received),
            event(.verify, .ok, nil, ["checks": wire.echoesOffers ? "offer mac, expiry, client, request, terms, signature, amount, payee, time window"
                : "no offer echoed: bound to this request, this client and the current price; signature, amount, payee, time window"]),
        ]
        guard standing.railReady else {
            events.append(event(.facilitatorVerify, .error, .facilitatorUnavailable, ["detail": "no facilitator is ready for \(paid.proof.network)"]))
            return finish(.unavailable(.facilitatorUnavailable, detail: "payment verification is unavailable; retry later", events: events))
        }
        return reserve(paid, events: events)
    }

    /// `windowTooShort(validBefore:maxTimeoutSeconds:now:)` of this purchase's proof and offer, at its arrival.
    func windowTooShort(_ paid: PaidFlow) -> String? {
        Self.windowTooShort(validBefore: paid.proof.validBefore, maxTimeoutSeconds: paid.offer.offer.maxTimeoutSeconds, now: arrivalSeconds)
    }

    /// Why a new authorization's window is too short to pay for work that runs before it is settled, if it is. A client
    /// signing for the offer's `maxTimeoutSeconds` (as the x402 clients do) keeps at least half of it when it arrives; an
    /// authorization made to close while the upstream runs (`validBefore` a few seconds ahead) would have its `/settle`
    /// refused after the work was done: work for free, again with every fresh nonce.
    static func windowTooShort(validBefore: String, maxTimeoutSeconds: Int, now: Int64) -> String? {
        guard let validBefore = Int64(validBefore) else { return nil }
        let required = Int64(max(0, min(maxTimeoutSeconds, 86_400)) / 2)
        guard validBefore < now + required else { return nil }
        return "the authorization must stay valid at least \(required) s (half the offer's maxTimeoutSeconds, \(maxTimeoutSeconds) s); "
            + "it expires in \(max(0, validBefore - now)) s: sign a new one for the whole of maxTimeoutSeconds"
    }

    /// Whether the echoed offer fits this request, this client and the current price.
    func mismatch(_ offer: Offer, _ priced: Priced, _ proof: PaymentProof) -> (Reason, String)? {
        // Client and request first: an expired offer goes on to the late-retry lookup, which must only ever see its own
        // client's retry of its own request.
        if offer.client != priced.identity.clientId {
            return (.offerClientMismatch, "the offer was made to another client")
        }
        if offer.resource != priced.route.resource || offer.request != request.requestLine
            || offer.bodyDigest != RequestTarget.bodyDigest(request.body) {
            return (.offerResourceMismatch, "the offer was made for another request (\(offer.request))")
        }
        if offer.expiresAt < arrivalSeconds {
            return (.offerExpired, "the offer expired at \(RFC3339.format(seconds: offer.expiresAt))")
        }
        if !Self.echoesTerms(of: offer, proof) {
            return (.offerTermsMismatch, "the accepted terms differ from the offer")
        }
        let stillOffered = priced.pricing.accepts.contains {
            $0.asset.network == offer.network && $0.asset.address.lowercased() == offer.asset
                && $0.amount == offer.amount && $0.payTo.lowercased() == offer.payTo
        }
        if !stillOffered {
            return (.offerTermsMismatch, "the offer's terms are no longer offered (the price, payee or asset changed)")
        }
        return nil
    }

    /// Whether the proof's accepted terms are the offer's own.
    static func echoesTerms(of offer: Offer, _ proof: PaymentProof) -> Bool {
        let accepted = proof.accepted
        return accepted.network == offer.network && accepted.asset.lowercased() == offer.asset
            && TokenAmount(atomic: accepted.amount) == offer.amount && accepted.payTo.lowercased() == offer.payTo
            && (accepted.maxTimeoutSeconds == nil || accepted.maxTimeoutSeconds == offer.maxTimeoutSeconds)
    }

    /// A refused proof, under the flow it was refused in.
    mutating func refuse(_ priced: Priced, _ reason: Reason, received: [String: String]? = nil, events: [AuditEvent] = [],
                         alreadyAudited: Bool = false, detail: String) -> Action {
        finish(.refuse(priced, reason, detail: detail, received: received, events: events, alreadyAudited: alreadyAudited))
    }

    func priced(_ paid: PaidFlow) -> Priced {
        Priced(route: paid.route, identity: paid.identity, pricing: paid.pricing)
    }
}
