import HTTPTypes
import Logging

extension Gateway {
    /// A 503 for a payment being processed (or in doubt): never a 402, which would make a client pay twice.
    func inProgress(_ flow: Flow, events: [AuditEvent], detail: String) async -> GatewayResponse {
        var events = events
        events.append(flow.event(.reserve, .denied, .paymentInProgress, clock: clock, ["detail": detail]))
        return await unavailable(.paymentInProgress, flow: flow, detail: detail, events: events)
    }

    /// The same client retrying the same proof for the same request: its response was lost, so it
    /// gets the stored one (receipt included) and nothing is settled again.
    func replayStored(_ stored: StoredResponse, retry: PaidFlow, events: [AuditEvent]) async -> GatewayResponse {
        let flow = retry.flow
        var events = events
        events.append(flow.event(.reserve, .ok, Reason("idempotent_retry"), clock: clock, ["first_correlation_id": stored.correlationId]))
        // Filtered first: an answer refused for this client now is not served, so it is not recorded as served again.
        let response: GatewayResponse
        switch filtered(stored, route: retry.route, identity: retry.identity, flow: flow) {
        case .success(let answer):
            response = answer
        case .failure(let refusal):
            return await deny(.badGateway, "bad_gateway", .respond, refusal.reason, flow: flow, detail: refusal.detail, before: events)
        }
        // What this flow did before serving, for a refusal below: its link to the first flow included.
        let before = events
        events.append(flow.event(.respond, .ok, Reason("stored_response"), clock: clock, ["status": String(stored.status), "settled": "earlier"]))
        // Paid content is never served without its audit record, a replayed one included; delivered more than once, the
        // flow keeps no delivery token, so a delivery lost before this one no longer reopens it (`reopenDelivery`). Not
        // marked as settled for its door: the flow was delivered before, and a replay that does not reach its client
        // changes nothing (its owner may come back once more).
        let recorded: Bool
        do {
            recorded = try await store.recordReplay(retry.proof.key, events: events)
        } catch {
            logger.error("replay not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the gateway cannot record this delivery right now; retry later", before: before)
        }
        guard recorded else {
            // Reopened (its first delivery was lost), refunded or put under review since the settlement was read: the
            // same proof again is answered as the settlement now says.
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .settlementChanged, flow: flow,
                              detail: "this payment's settlement changed while its answer was being served again; send the same proof again",
                              before: before)
        }
        return response
    }

    /// A stored answer as a response, filtered again for the client asking now (private fields are never
    /// served from a store a filter did not pass over).
    func filtered(_ stored: StoredResponse, route: Route, identity: Identity, flow: Flow) -> Result<GatewayResponse, DeliveryRefusal> {
        DeliveryFilter.privateFields(stored.answer, route: route, identity: identity, flow: flow, atMillis: clock.nowMillis())
            .map { filtered, _ in GatewayResponse(filtered) }
    }

    /// False when another process sharing the store holds the claim now (`TollgateStore.release`).
    func release(_ key: ProofKey, events: [AuditEvent]) async -> Bool {
        do {
            return try await store.release(key, events: events)
        } catch {
            // The claim stays: the proof cannot be reused until it expires, which fails safe.
            logger.error("reservation not released", metadata: ["tollgate.proof": "\(key)", "tollgate.error": "\(error)"])
            return true
        }
    }

    /// A refused proof: audited, then a fresh 402 whose `error` is the reason. The fresh offer opens a
    /// new flow (a new correlation id), linked both ways in the audit trail.
    func refuse(_ request: GatewayRequest, _ route: Route, _ pricing: Route.Pricing, _ identity: Identity, _ reason: Reason,
                        flow: Flow, received: [String: String]? = nil, events: [AuditEvent] = [], alreadyAudited: Bool = false,
                        countsAsInvalid: Bool = true, detail: String) async -> GatewayResponse {
        if countsAsInvalid { await countInvalidProof(resource: route.resource, flow: flow) }
        if countsAsInvalid, let digest = flow.proofDigest {
            settings.invalidProofs.remember(digest, reason: reason, now: clock.nowSecondsPrecise, railRefusals: rail.wire.deterministicRefusals,
                                               echoesOffers: rail.wire.echoesOffers)
        }
        var next = flow
        next.correlationId = CorrelationId.make(nowMillis: clock.nowMillis())
        var all = events
        if events.isEmpty && !alreadyAudited {
            if let received { all.append(flow.event(.proof, .received, clock: clock, received)) }
            all.append(flow.event(.verify, .denied, reason, clock: clock, ["detail": detail]))
        }
        if !all.isEmpty { all[all.count - 1].details["next_correlation_id"] = next.correlationId }
        return await offer(request, route: route, pricing: pricing, identity: identity, reason: reason, flow: next, detail: detail,
                           previous: flow.correlationId, earlier: all)
    }
}

extension Gateway {
    /// Counts an invalid proof against its keys: in this instance's limiter and, when shared, in the cluster's budget.
    func countInvalidProof(resource: String, flow: Flow) async {
        let now = clock.nowSecondsPrecise
        _ = settings.limits.admit(.invalid, resource: resource, keys: flow.invalidKeys, now: now)
        await settings.sharedInvalid?.record(flow.invalidKeys, now: now)
    }
}
