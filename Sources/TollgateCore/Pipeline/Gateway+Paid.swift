import HTTPTypes
import Logging

extension Gateway {
    /// The paid path: offer check → local verification → reservation → facilitator verification →
    /// forward → settle (only after a delivered success) → respond. Cheapest checks first, so a
    /// forged or tampered proof never costs a store write or a facilitator call.
    func paid(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity, proof: PaymentProof,
              flow: inout Flow) async -> GatewayResponse {
        let received = [
            "payer": proof.payer, "network": proof.network, "asset": proof.asset, "amount": proof.amount,
            "nonce": proof.key.nonce, "rail": proof.rail,
        ]
        guard let token = proof.accepted.offerToken else {
            return await refuse(request, route, pricing, identity, .offerMissing, flow: flow, received: received,
                                detail: "the proof does not echo a Tollgate offer; pay one of the offers of a fresh 402")
        }
        let offer: Offer
        switch settings.offers.verify(token) {
        case .failure:
            return await refuse(request, route, pricing, identity, .offerInvalid, flow: flow, received: received,
                                detail: "the echoed offer was not signed by this gateway")
        case .success(let signed):
            offer = signed
        }
        let signedOffer = SignedOffer(offer: offer, token: token)
        // The flow continues under the correlation id of the 402 that made the offer.
        flow.correlationId = offer.correlationId

        let retry = PaidFlow(request: request, route: route, pricing: pricing, identity: identity, proof: proof, offer: signedOffer, flow: flow)
        if let (reason, detail) = offerMismatch(offer, request: request, route: route, pricing: pricing, identity: identity, proof: proof) {
            if reason == .offerExpired, let answer = await lateRetry(retry) { return answer }
            return await refuse(request, route, pricing, identity, reason, flow: flow, received: received, detail: detail)
        }
        let now = clock.nowSeconds
        if case .invalid(let reason, let detail) = rail.verifyLocally(proof, offer: offer, now: now) {
            if reason == .validBefore, let answer = await lateRetry(retry) { return answer }
            return await refuse(request, route, pricing, identity, reason, flow: flow, received: received, detail: detail)
        }

        let payerAddress = proof.key.payer
        if controls.isRevoked(payer: payerAddress) || settings.payerDenyList.contains(payerAddress)
            || settings.payerAllowList.map({ !$0.contains(payerAddress) }) ?? false {
            await audit.record(flow.event(.proof, .received, clock: clock, received))
            return await deny(.forbidden, "forbidden", .decide, .payerRevoked, flow: flow,
                              detail: "payments from this address are not accepted; nothing was charged")
        }
        if let refusal = settings.limits.admit(.paid, resource: route.resource, keys: [LimitKey("payer", payerAddress)],
                                               now: clock.nowSecondsPrecise) {
            return await tooMany(refusal, flow: flow)
        }
        var events = [
            flow.event(.proof, .received, clock: clock, received),
            flow.event(.verify, .ok, clock: clock, ["checks": "offer mac, expiry, client, request, terms, signature, amount, payee, time window"]),
        ]
        guard rail.isReady(network: proof.network) else {
            events.append(flow.event(.facilitatorVerify, .error, .facilitatorUnavailable, clock: clock, ["detail": "no facilitator is ready for \(proof.network)"]))
            return await unavailable(.facilitatorUnavailable, flow: flow, detail: "payment verification is unavailable; retry later", events: events)
        }

        // One request of this process per authorization at a time: a retry while the first is running waits (503).
        guard inFlight.begin(proof.key) else {
            return await inProgress(flow, events: events, detail: "this payment is being processed by an earlier request; retry shortly, do not pay again")
        }
        defer { inFlight.end(proof.key) }

        // Single use: the claim is committed before anything is forwarded.
        let reservation = Reservation(key: proof.key, correlationId: flow.correlationId, clientId: identity.clientId,
                                      resource: route.resource, validBefore: Int64(proof.validBefore) ?? Int64.max,
                                      paymentIdentifier: proof.paymentIdentifier, fingerprint: flow.proofDigest.map(HexString.encode) ?? "",
                                      offerToken: token, payload: String(decoding: proof.raw, as: UTF8.self))
        events.append(flow.event(.reserve, .ok, clock: clock, ["proof": proof.key.description]))
        do {
            switch try await store.reserve(reservation, events: events) {
            case .reserved:
                events.removeAll()
            case .alreadyClaimed(let first, let state):
                events.removeLast()
                if first == flow.correlationId, state != .failed {
                    // The same authorization for the same offer: a retry of this very purchase.
                    if let answer = await retryOfClaim(retry, state: state, events: events) { return answer }
                    if state == .reserved {
                        // Left by a process that stopped before asking to settle: this request carries the claim on.
                        events.append(flow.event(.reserve, .ok, Reason("claim_taken_over"), clock: clock, ["proof": proof.key.description]))
                        guard await appendDurably(events) else {
                            return await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot record payments right now", events: [])
                        }
                        return await verifiedAndReserved(request, route: route, pricing: pricing, identity: identity, proof: proof,
                                                         offer: signedOffer, flow: flow)
                    }
                } else if [.settling, .pending, .unknown].contains(state) {
                    // Its money may be moving: never a 402, which would make a stock client pay again.
                    return await inProgress(flow, events: events, detail: "this payment authorization is being settled; retry later, do not pay again")
                }
                if state == .settled, let stored = try? await store.storedResponse(proof.key, now: clock.nowSeconds),
                   isOwner(stored, of: retry) {
                    return await replayStored(stored, retry: retry, events: events)
                }
                events.append(flow.event(.reserve, .denied, .nonceAlreadyUsed, clock: clock,
                                         ["first_correlation_id": first, "first_state": state.rawValue, "proof": proof.key.description]))
                return await refuse(request, route, pricing, identity, .nonceAlreadyUsed, flow: flow, events: events,
                                    detail: "this payment authorization was already used (flow \(first))")
            case .identifierConflict(let first):
                events.removeLast()
                events.append(flow.event(.reserve, .denied, .paymentIdentifierConflict, clock: clock, ["first_correlation_id": first]))
                await appendDurably(events)
                return await deny(.conflict, "conflict", .respond, .paymentIdentifierConflict, flow: flow,
                                  detail: "this payment-identifier was already used for a different payment (flow \(first)); nothing was charged",
                                  durable: true)
            case .offerAlreadyUsed(let state):
                events.removeLast()
                events.append(flow.event(.reserve, .denied, .offerAlreadyUsed, clock: clock, ["offer_state": state.rawValue]))
                return await refuse(request, route, pricing, identity, .offerAlreadyUsed, flow: flow, events: events,
                                    detail: "this offer was already paid by another authorization; pay the fresh offer instead")
            }
        } catch {
            events.removeLast()
            events.append(flow.event(.reserve, .error, .storeUnavailable, clock: clock, ["detail": "\(error)"]))
            return await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot record payments right now", events: events)
        }
        return await verifiedAndReserved(request, route: route, pricing: pricing, identity: identity, proof: proof, offer: signedOffer, flow: flow)
    }

    /// Whether a stored answer belongs to this retry: the same offer (so the same client, the same request and
    /// body), the same `payment-identifier` as the first delivery, and a caller that can be recognised (an
    /// identified client, or one naming the payment): an anonymous bare replay, or a captured anonymous proof
    /// with a `payment-identifier` added, gets nothing.
    func isOwner(_ stored: StoredResponse, of retry: PaidFlow) -> Bool {
        let recognised = retry.proof.paymentIdentifier != nil || retry.identity != .anonymous
        return recognised && stored.correlationId == retry.flow.correlationId && stored.clientId == retry.identity.clientId
            && stored.request == retry.request.requestLine && stored.paymentIdentifier == retry.proof.paymentIdentifier
    }

    /// A retry whose offer or authorization has expired since the first attempt: still the same purchase when
    /// the proof's claim belongs to this offer (and the signature held when the claim was made). Its answer, or
    /// its settlement in doubt, is handled as for any retry; nil when the proof has no claim of this offer.
    func lateRetry(_ retry: PaidFlow) async -> GatewayResponse? {
        let key = retry.proof.key
        if let stored = try? await store.storedResponse(key, now: clock.nowSeconds), isOwner(stored, of: retry) {
            return await replayStored(stored, retry: retry, events: [])
        }
        guard let open = try? await store.openSettlement(key), open.intent.correlationId == retry.flow.correlationId,
              case .valid = rail.verifyLocally(retry.proof, offer: retry.offer.offer, now: open.intent.createdAtMillis / 1000)
        else { return nil }
        guard inFlight.begin(key) else {
            return await inProgress(retry.flow, events: [], detail: "this payment is being processed by an earlier request; retry shortly, do not pay again")
        }
        defer { inFlight.end(key) }
        return await retryOfClaim(retry, state: open.state, events: [])
    }

    /// The same client retrying the same proof for the same request: its response was lost, so it
    /// gets the stored one (receipt included) and nothing is settled again.
    func replayStored(_ stored: StoredResponse, retry: PaidFlow, events: [AuditEvent]) async -> GatewayResponse {
        let flow = retry.flow
        var events = events
        events.append(flow.event(.reserve, .ok, Reason("idempotent_retry"), clock: clock, ["first_correlation_id": stored.correlationId]))
        events.append(flow.event(.respond, .ok, Reason("stored_response"), clock: clock, ["status": String(stored.status), "settled": "earlier"]))
        // Paid content is never served without its audit record, a replayed one included.
        guard await appendDurably(events) else {
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the gateway cannot record this delivery right now; retry later")
        }
        return await replayed(stored, route: retry.route, identity: retry.identity, flow: flow)
    }

    /// A stored answer as a response.
    /// A stored answer as a response, filtered again for the client asking now (private fields are never
    /// served from a store a filter did not pass over).
    func replayed(_ stored: StoredResponse, route: Route, identity: Identity, flow: Flow) async -> GatewayResponse {
        var fields = HTTPFields()
        for pair in stored.headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { fields.append(HTTPField(name: name, value: pair[1])) }
        }
        fields[.tollgateCorrelationId] = stored.correlationId
        let answer = UpstreamResponse(status: HTTPResponse.Status(code: stored.status), headerFields: fields, body: stored.body)
        switch filterPrivateFields(answer, route: route, identity: identity, flow: flow) {
        case .success(let (filtered, _)):
            return GatewayResponse(status: filtered.status, headerFields: fields, body: filtered.body)
        case .failure(let refusal):
            return await deny(.badGateway, "bad_gateway", .respond, refusal.reason, flow: flow, detail: refusal.detail)
        }
    }

    func finishUnavailable(_ proof: PaymentProof, state: Reservation.State, reason: Reason, flow: Flow,
                                   events: [AuditEvent], detail: String) async -> GatewayResponse {
        do {
            try await store.finish(proof.key, state: state, payment: nil, events: events)
        } catch {
            logger.error("settlement state not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)"])
        }
        return await deny(.serviceUnavailable, "service_unavailable", .respond, reason, flow: flow, detail: detail, durable: true)
    }

    func release(_ proof: PaymentProof, events: [AuditEvent]) async {
        do {
            try await store.release(proof.key, events: events)
        } catch {
            // The claim stays: the proof cannot be reused until it expires, which fails safe.
            logger.error("reservation not released", metadata: ["tollgate.proof": "\(proof.key)", "tollgate.error": "\(error)"])
        }
    }

    /// A refused proof: audited, then a fresh 402 whose `error` is the reason. The fresh offer opens a
    /// new flow (a new correlation id), linked both ways in the audit trail.
    func refuse(_ request: GatewayRequest, _ route: Route, _ pricing: Route.Pricing, _ identity: Identity, _ reason: Reason,
                        flow: Flow, received: [String: String]? = nil, events: [AuditEvent] = [], alreadyAudited: Bool = false,
                        detail: String) async -> GatewayResponse {
        _ = settings.limits.admit(.invalid, resource: route.resource, keys: flow.invalidKeys, now: clock.nowSecondsPrecise)
        if let digest = flow.proofDigest { settings.invalidProofs.remember(digest, reason: reason, now: clock.nowSecondsPrecise) }
        var next = flow
        next.correlationId = CorrelationId.make()
        var all = events
        if events.isEmpty && !alreadyAudited {
            if let received { all.append(flow.event(.proof, .received, clock: clock, received)) }
            all.append(flow.event(.verify, .denied, reason, clock: clock, ["detail": detail]))
        }
        if !all.isEmpty { all[all.count - 1].details["next_correlation_id"] = next.correlationId }
        for event in all { await audit.record(event) }
        return await offer(request, route: route, pricing: pricing, identity: identity, reason: reason, flow: next, detail: detail,
                           previous: flow.correlationId)
    }

    /// Whether the echoed offer fits this request, this client and the current price.
    private func offerMismatch(_ offer: Offer, request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity,
                               proof: PaymentProof) -> (Reason, String)? {
        if offer.expiresAt < clock.nowSeconds {
            return (.offerExpired, "the offer expired at \(ISO8601.format(seconds: offer.expiresAt))")
        }
        if offer.client != identity.clientId {
            return (.offerClientMismatch, "the offer was made to another client")
        }
        if offer.resource != route.resource || offer.request != request.requestLine
            || offer.bodyDigest != RequestTarget.bodyDigest(request.body) {
            return (.offerResourceMismatch, "the offer was made for another request (\(offer.request))")
        }
        let accepted = proof.accepted
        let termsMatch = accepted.network == offer.network && accepted.asset.lowercased() == offer.asset
            && TokenAmount(atomic: accepted.amount) == offer.amount && accepted.payTo.lowercased() == offer.payTo
            && (accepted.maxTimeoutSeconds == nil || accepted.maxTimeoutSeconds == offer.maxTimeoutSeconds)
        let stillOffered = pricing.accepts.contains {
            $0.asset.network == offer.network && $0.asset.address.lowercased() == offer.asset
                && $0.amount == offer.amount && $0.payTo.lowercased() == offer.payTo
        }
        if !termsMatch || !stillOffered {
            return (.offerTermsMismatch, "the accepted terms differ from the offer or from the current price")
        }
        return nil
    }
}
