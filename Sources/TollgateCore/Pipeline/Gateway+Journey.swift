import HTTPTypes
import Logging

extension Gateway {
    /// The driver of `Journey`: performs each action the machine returns (identity, limits, body, rail, store,
    /// facilitator, upstream) and feeds back what happened, until the machine answers.
    /// `proofDigest` is this gateway's rail's fingerprint of the request's proof (`forRequest`).
    func drive(_ received: GatewayRequest, correlationId: String, proofDigest: [UInt8]?) async -> (GatewayResponse, Flow) {
        var journey = Journey(request: received, settings: sharedSettings, correlationId: correlationId, arrivalMillis: clock.nowMillis(),
                              proofDigest: proofDigest, wire: rail.wire)
        // The authorization this request holds in flight (`reserve`, or a late retry's `lookUpSettlement`), given back
        // however the journey ends.
        var held: ProofKey?
        defer { if let held { inFlight.end(held) } }
        var peers = PeerWait()
        // The facilitator's answer obtained while the claim was committed (`Settings.verifiesWithClaim`).
        var early: EarlyVerdict?
        var action = journey.next(.arrived, at: clock.nowMillis())
        while true {
            let input: Journey.Input
            switch action {
            case .respond(let answer):
                let response = await respond(answer, journey: journey)
                if peers.askedFacilitator, let timings = settings.timings {
                    timings.paidRequestAnswered(resource: journey.flow.resource ?? "", overhead: peers.overhead)
                }
                return (response, journey.flow)
            case .identify:
                let outcome = await identify(journey.request.headerFields)
                var revoked = false
                if case .identified(.client(let client)) = outcome { revoked = controls.isRevoked(client: client.id) }
                input = .identified(outcome, clientRevoked: revoked, incident: journey.flow.resource.flatMap { controls.incident(for: $0)?.id })
            case .peekLimits(let probes):
                let now = clock.nowSecondsPrecise
                input = .limitsPeeked(probes.lazy.compactMap {
                    self.settings.limits.isExhausted($0.trafficClass, resource: $0.resource, keys: $0.keys, now: now)
                        ?? ($0.trafficClass == .invalid ? self.settings.sharedInvalid?.refusal($0.keys, now: now) : nil)
                }.first)
            case .readBody:
                var request = journey.request
                do {
                    try await request.loadBody()
                    input = .bodyRead(.success(request.body))
                } catch {
                    input = .bodyRead(.failure(Journey.Failure(error)))
                }
            case .lookUpRefusedProof(let digest):
                input = .refusedProofLookedUp(settings.invalidProofs.reason(for: digest, now: clock.nowSecondsPrecise))
            case .decodeProof:
                input = .proofDecoded(rail.decode(journey.request.headerFields))
            case .holdUnits(let hold, let events):
                do {
                    input = .unitsHeld(.success(try await store.holdUnits(hold, events: events)))
                } catch {
                    input = .unitsHeld(.failure(Journey.Failure(error)))
                }
            case .finishUnits(let correlationId, let consumed, let usage, let events):
                do {
                    try await store.finishUnits(correlationId: correlationId, consumed: consumed, usage: usage, events: events)
                    input = .unitsSpent(true)
                } catch {
                    // The hold stays, so units are never spent twice nor given away.
                    logger.error("package spend not recorded", metadata: ["tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)"])
                    input = .unitsSpent(false)
                }
            case .admit(let probe):
                input = .admitted(settings.limits.admit(probe.trafficClass, resource: probe.resource, keys: probe.keys, now: clock.nowSecondsPrecise))
            case .verifyLocally(let proof, let offer, let at):
                input = .verifiedLocally(rail.verifyLocally(proof, offer: offer, now: at ?? clock.nowSeconds))
            case .checkPayer(let payer, let network, let signatureChecked):
                input = .payerChecked(standing(of: payer, network: network, signatureChecked: signatureChecked, resource: journey.flow.resource ?? ""))
            case .reserve(let reservation, let events, let alongside):
                // One request of this process per authorization at a time: a retry while the first runs waits (503).
                guard inFlight.begin(reservation.key) else {
                    input = .reservationBusy
                    break
                }
                held = reservation.key
                (input, early) = await claim(reservation, events: events, verifying: alongside)
            case .loadStoredResponse(let key):
                do {
                    input = .storedLoaded(.success(try await store.storedResponse(key, now: clock.nowSeconds)))
                } catch {
                    input = .storedLoaded(.failure(Journey.Failure(error)))
                }
            case .lookUpSettlement(let key, let exclusive):
                if exclusive {
                    guard inFlight.begin(key) else {
                        input = .reservationBusy
                        break
                    }
                    held = key
                }
                do {
                    let open = try await store.openSettlement(key)
                    input = .settlementLookedUp(.success(open), receipt: receipt(of: open))
                } catch {
                    input = .settlementLookedUp(.failure(Journey.Failure(error)), receipt: [:])
                }
            case .lookUpClaim(let key):
                do {
                    let claim = try await store.reservationState(key)
                    // A claim still `reserved` may be a live request's (its upstream still running, the settlement not yet
                    // asked for): its copy waits. Only one nobody works on was left by a stopped process, nothing moved.
                    if claim == .reserved, try await isWorkedOn(key) {
                        input = .reservationBusy
                    } else {
                        input = .claimLookedUp(.success(claim))
                    }
                } catch {
                    input = .claimLookedUp(.failure(Journey.Failure(error)))
                }
            case .resolve(let open, let actor):
                let resolved = await resolve(open, actor: actor)
                input = .resolved(resolved, receipt: receipt(of: resolved))
            case .refundOrReview(let open, let actor):
                if case .settledMeanwhile = await refundOrReview(open, actor: actor) {
                    input = .refundedOrReviewed(changedMeanwhile: true)
                } else {
                    input = .refundedOrReviewed(changedMeanwhile: false)
                }
            case .lookUpRefund(let correlationId):
                do {
                    input = .refundLookedUp(.success(try await store.refunds(state: nil, correlationId: correlationId, limit: 1).first))
                } catch {
                    input = .refundLookedUp(.failure(Journey.Failure(error)))
                }
            case .recordTakeover(let events):
                input = .takeoverRecorded(await appendDurably(events))
            case .verifyWithFacilitator(let proof, let offer):
                if let verdict = early, verdict.key == proof.key {
                    early = nil
                    peers.count(verdict.waited, facilitator: true)
                    input = verdict.input
                } else {
                    input = await peers.time(facilitator: true) { await verifyWithFacilitator(proof, offer: offer) }
                }
            case .holdSpend(let holds, let correlationId):
                do {
                    input = .spendHeld(.success(try await store.holdSpend(holds, correlationId: correlationId)))
                } catch {
                    input = .spendHeld(.failure(Journey.Failure(error)))
                }
            case .forward(let contract):
                let started = clock.nowMillis()
                let request = upstreamRequest(journey.request, contract: contract)
                input = await peers.time(facilitator: false) {
                    do {
                        let answer = try await upstream.send(request)
                        return .upstreamAnswered(.success(answer), elapsedMillis: clock.nowMillis() - started)
                    } catch {
                        return .upstreamAnswered(.failure(Journey.Failure(error)), elapsedMillis: clock.nowMillis() - started)
                    }
                }
            case .settle(let paid, let intent, let events):
                let outcome = await peers.time(facilitator: true, excludingOwnWork: { await settle(paid, intent: intent, events: events) })
                input = .settleAnswered(outcome, receipt: receipt(of: outcome))
            case .resettle(let attempt):
                let outcome: Journey.SettleOutcome = await peers.time(facilitator: true) {
                    do {
                        return .answered(try await rail.resettle(attempt, logger: logger), attempt: attempt)
                    } catch let failure as RailFailure {
                        return .railFailed(failure, intentRecorded: true)
                    } catch {
                        return .railFailed(RailFailure(.undecodable, "\(error)", authority: attempt.authority), intentRecorded: true)
                    }
                }
                input = .settleAnswered(outcome, receipt: receipt(of: outcome))
            case .record(let key, let payment, let stored, let metering, let delivery, let events):
                input = await deliveryRecorded("settled payment not recorded", journey.flow, transaction: payment.transaction) {
                    try await store.finish(key, state: .settled, payment: payment, response: stored, metering: metering, delivery: delivery,
                                           events: events)
                }
                if case .deliveryClosed = input {
                    // Its delivery refused, the settlement's own evidence is still kept (its transaction, which whoever
                    // closed the flow may not have had): the outcome stays refunded or under review.
                    try? await store.finish(key, state: .settled, payment: payment, response: nil, metering: nil, delivery: nil, events: [])
                }
            case .recordDelivery(let key, let stored, let metering, let delivery, let events):
                input = await deliveryRecorded("delivery of a settled payment not recorded", journey.flow, transaction: nil) {
                    try await store.recordDelivery(key, response: stored, metering: metering, delivery: delivery, events: events)
                }
            case .markDelivered(let key, let delivery, let events):
                do {
                    input = .deliveryMarked(.success(try await store.deliverSettled(key, delivery: delivery, events: events)))
                } catch {
                    logger.critical("delivery of a resolved settlement not recorded", metadata: [
                        "tollgate.correlation_id": "\(journey.flow.correlationId)", "tollgate.error": "\(error)",
                    ])
                    input = .deliveryMarked(.failure(Journey.Failure(error)))
                }
            case .refund(let request, let events):
                await appendDurably(events)
                guard let request else {
                    input = .refunded(nil)
                    break
                }
                do {
                    input = .refunded(.success(try await store.refund(request, nowMillis: clock.nowMillis())))
                } catch let error as TollgateError where error.code == .delivered {
                    // Another instance's retry of this proof delivered its answer meanwhile (this owner was held up past its lease).
                    logger.notice("no automatic refund: delivered meanwhile", metadata: ["tollgate.correlation_id": "\(journey.flow.correlationId)"])
                    input = .refunded(.failure(Journey.Failure(error)))
                } catch let error as TollgateError where error.code == .unitsSpent {
                    // A package's units spent since: an operator decides, as for any lost delivery of a purchase.
                    if let key = held { await listForReview(key, detail: "settled but not delivered; \(error.message)", actor: "tollgate") }
                    input = .refunded(.failure(Journey.Failure(error)))
                } catch {
                    logger.critical("automatic refund not recorded", metadata: [
                        "tollgate.correlation_id": "\(journey.flow.correlationId)", "tollgate.error": "\(error)",
                    ])
                    input = .refunded(.failure(Journey.Failure(error)))
                }
            }
            action = journey.next(input, at: clock.nowMillis())
        }
    }

    /// Runs the write that records the delivery of money already moved: `deliveryClosed` when the payment was refunded
    /// or put under review meanwhile (another instance's retry, an operator: the answer is not served), `recorded(false)`
    /// (logged as critical: the payment exists, its record does not) when the store failed.
    private func deliveryRecorded(_ message: Logger.Message, _ flow: Flow, transaction: String?,
                                  _ write: () async throws -> Void) async -> Journey.Input {
        do {
            try await write()
            return .recorded(true)
        } catch let error as TollgateError where error.code == .settlementClosed {
            return .deliveryClosed(detail: error.message)
        } catch {
            logger.critical(message, metadata: [
                "tollgate.correlation_id": "\(flow.correlationId)", "tollgate.transaction": "\(transaction ?? "")", "tollgate.error": "\(error)",
            ])
            return .recorded(false)
        }
    }

    /// Whether a live request works on the claim of `key`: one of this process holding it in flight, or another process's
    /// live lease (read without taking the claim).
    private func isWorkedOn(_ key: ProofKey) async throws -> Bool {
        if inFlight.contains(key) { return true }
        return try await store.isClaimLeasedElsewhere(key)
    }

    /// Whether a payer may pay: revocations and the allow and deny lists (the deny list always wins), then the
    /// payer's own paid budget, and whether the rail can verify on its network now.
    private func standing(of payer: String, network: String, signatureChecked: Bool, resource: String) -> Journey.PayerStanding {
        let refused = controls.isRevoked(payer: payer) || settings.payerDenyList.contains(payer)
            || settings.payerAllowList.map({ !$0.contains(payer) }) ?? false
        guard !refused else { return Journey.PayerStanding(refused: true, limited: nil, railReady: false) }
        // A payer named by a signature nobody checked yet (a smart wallet's, for the facilitator to check) is no key of the
        // payer's: anyone can name any wallet, and a flood naming one would spend its budget, the wallet's own payments
        // (whose signatures are deferred too) refused. Such proofs meet the client's and the network's limits, and each
        // one the facilitator refuses spends the invalid-proof budget.
        let keys = signatureChecked ? [LimitKey("payer", payer)] : []
        let limited = settings.limits.admit(.paid, resource: resource, keys: keys, now: clock.nowSecondsPrecise)
        return Journey.PayerStanding(refused: false, limited: limited, railReady: rail.isReady(network: network))
    }

    /// Turns the machine's answer into a response, recording what it says to record.
    private func respond(_ answer: Journey.Answer, journey: Journey) async -> GatewayResponse {
        let flow = journey.flow, request = journey.request
        switch answer {
        case .deny(let denial):
            var response = await deny(denial.status, denial.error, denial.stage, denial.reason, flow: flow, detail: denial.detail,
                                      extra: denial.extra, durable: denial.durable, before: denial.before)
            for field in denial.fields { response.headerFields[field.name] = field.value }
            return response
        case .tooMany(let refusal):
            return await tooMany(refusal, flow: flow)
        case .offer(let priced, let reason, let detail):
            return await offer(request, route: priced.route, pricing: priced.pricing, identity: priced.identity, reason: reason, flow: flow, detail: detail)
        case .refuse(let priced, let reason, let detail, let received, let events, let alreadyAudited):
            return await refuse(request, priced.route, priced.pricing, priced.identity, reason, flow: flow, received: received, events: events,
                                alreadyAudited: alreadyAudited, detail: detail)
        case .refuseCopy(let priced, let reason, let detail, let events):
            return await refuse(request, priced.route, priced.pricing, priced.identity, reason, flow: flow, events: events,
                                countsAsInvalid: false, detail: detail)
        case .refuseMalformed(let priced, let reason, let detail):
            let now = clock.nowSecondsPrecise
            await countInvalidProof(resource: priced.route.resource, flow: flow)
            if let digest = flow.proofDigest {
                settings.invalidProofs.remember(digest, reason: reason, now: now, railRefusals: rail.wire.deterministicRefusals,
                                               echoesOffers: rail.wire.echoesOffers)
            }
            return await offer(request, route: priced.route, pricing: priced.pricing, identity: priced.identity, reason: reason, flow: flow,
                               earlier: [flow.event(.proof, .denied, reason, clock: clock, ["detail": detail])])
        case .passThrough(let route, let identity):
            return await passThrough(request, route: route, identity: identity, flow: flow)
        case .unavailable(let reason, let detail, let events):
            return await unavailable(reason, flow: flow, detail: detail, events: events)
        case .inProgress(let events, let detail):
            return await inProgress(flow, events: events, detail: detail)
        case .replayStored(let stored, let paid, let events):
            return await replayStored(stored, retry: paid, events: events)
        case .replayResolved(let answer, let paid):
            // Filtered for this client by the journey before its delivery was recorded.
            var response = GatewayResponse(answer)
            response.settledDelivery = paid.settledDelivery
            return response
        case .release(let key, let events, let then):
            guard await release(key, events: events) else {
                // Taken over by another instance while this request was held up: it may be settling now, so whatever this
                // request would have answered (a refusal, fresh terms), the client is told to wait, never to pay again.
                return await inProgress(flow, events: [], detail: Journey.processedElsewhere)
            }
            return await respond(then, journey: journey)
        case .passedOn(let answer, let route, let identity, let extra):
            return await passedOn(answer, route: route, identity: identity, flow: flow, extra: extra)
        case .finishClaim(let key, let state, let events, let then):
            if let settledElsewhere = await finishClaim(key, state, events: events, flow: flow) { return settledElsewhere }
            return await respond(then, journey: journey)
        case .settlementRefused(let receipt):
            var fields = receipt
            fields[.cacheControl] = "no-store"
            return GatewayResponse(status: .paymentRequired, headerFields: fields)
        case .commit(let events, let then):
            await appendDurably(events)
            return await respond(then, journey: journey)
        case .delivered(let response):
            return response
        case .notRecorded(let transaction, let delivery):
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the payment settled (\(transaction)) but \(delivery ? "the delivery" : "it") could not be recorded; support can trace this flow")
        }
    }
}

extension Gateway {
    /// Ends a claim as the journey's own `/settle` decided (`failed`, `unknown`, `pending`). That answer may have lost a
    /// race: another instance that took the claim over while this one was held up (or a reconciler) may have settled
    /// the same authorization meanwhile, its `/settle` landing being what this one was refused for. Then the claim is not
    /// this instance's any more (`finishOwnClaim`), or the store kept the settled outcome; either way the client is sent
    /// back for the answer (the response returned here), never told that nothing was charged, and the refusal's own answer
    /// is audited only when the store kept the refusal.
    func finishClaim(_ key: ProofKey, _ state: Reservation.State, events: [AuditEvent], flow: Flow) async -> GatewayResponse? {
        let answer = state == .failed ? events.filter { $0.stage == .respond } : []
        do {
            let own = try await store.finishOwnClaim(key, state: state, events: answer.isEmpty ? events : events.filter { $0.stage != .respond })
            guard own else { return await inProgress(flow, events: [], detail: Journey.processedElsewhere) }
        } catch {
            logger.error("settlement state not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
            return nil
        }
        guard !answer.isEmpty else { return nil }
        do {
            if let kept = try await store.openSettlement(key), kept.outcome == .settled {
                return await inProgress(flow, events: [], detail: "this payment was settled by another resolution"
                                        + (kept.transaction.map { " (\($0))" } ?? "") + "; send the same proof again for the answer, do not pay again")
            }
        } catch {
            // Unreadable now: the refusal is answered as decided (the store refused to overwrite a settled outcome, if any).
            logger.warning("settlement outcome not read back", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
        }
        await appendDurably(answer)
        return nil
    }
}
