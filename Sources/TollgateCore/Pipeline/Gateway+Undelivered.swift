import Logging

extension Gateway {
    /// How often a failed reopen of a lost delivery is tried: 200 ms, 400 ms, … doubling between tries, about 25 s in all,
    /// so a store failing over (a PostgreSQL primary replaced) does not leave a paid answer recorded as delivered. A
    /// graceful stop waits for them (`AfterResponseWork`).
    static let reopenAttempts = 8

    /// A door could not deliver a settled answer (the connection failed after settlement, the result could not be
    /// read). Unless the flow was delivered more than once (its owner's retry served meanwhile on another connection or
    /// instance), it becomes settled and undelivered again (`reopenDelivery`):
    /// - with an answer kept that its owner can fetch again (an identified client, or a payment naming itself with a
    ///   `payment-identifier`), and `keepForRetry`, the owner's retry of the same proof gets it and records its
    ///   delivery; if nobody comes back within the idempotency window, the reconciler refunds it (or lists it for review
    ///   with automatic refunds off). Never both: the delivery and the refund each hold only while the flow is settled
    ///   and undelivered.
    /// - otherwise the payment becomes a `pending_payout` refund at once (automatic refunds on; off, the reconciler
    ///   lists it for review), and a retry of the proof is told of the refund. A settlement no transaction proves (resolved
    ///   as a nonce found used) is not refunded at once: the reconciler lists it for review, as `refundOrReview` does.
    ///
    /// Either way the failure is audited (`respond`/`connection_failed`, `then` saying what becomes of it: `kept_for_retry`,
    /// `refund_due`, `review`, or `unchanged` for a flow delivered more than once or no longer settled and delivered). `keepForRetry` false: a failure a
    /// retry would meet again (an MCP result that cannot be read).
    ///
    /// Recorded in a task of its own (`afterResponse`): the caller is often a request whose connection just failed, and
    /// its task may be cancelled, which would end the waits between tries at once and make a store that honours
    /// cancellation (a connection pool's lease) refuse every try, leaving the payment neither delivered nor refunded.
    public func undelivered(_ delivery: SettledDelivery, detail: String, keepForRetry: Bool = true) async {
        let gateway = self
        await afterResponse.start { await gateway.recordUndelivered(delivery, detail: detail, keepForRetry: keepForRetry) }.value
    }

    private func recordUndelivered(_ delivery: SettledDelivery, detail: String, keepForRetry: Bool) async {
        let correlationId = delivery.correlationId, at = clock.nowMillis()
        // A payout needs evidence that the money moved, as in `refundOrReview` (read before, for the audit's `then`).
        // Unreadable, nothing is paid out now: the reconciler decides after the window.
        let transaction = (try? await store.openSettlement(delivery.key))?.transaction ?? ""
        let automaticRefunds = settings.automaticRefunds && !transaction.isEmpty
        var reopened: ReopenedDelivery?
        // Tried again after a failed write (the store busy a moment): left as it is, an answer its owner cannot fetch
        // again would stay delivered, neither served nor refunded. Safe to repeat: it acts only while its token holds.
        for attempt in 0..<Self.reopenAttempts where reopened == nil {
            do {
                reopened = try await store.reopenDelivery(delivery, keepForOwner: keepForRetry, nowSeconds: at / 1000) { outcome in
                    let then = outcome == .notKept ? (automaticRefunds ? "refund_due" : "review") : outcome.rawValue
                    return [AuditEvent(correlationId: correlationId, timeMillis: at, stage: .respond, outcome: .error,
                                       reason: Reason.connectionFailed.rawValue, details: ["detail": detail, "settled": "true", "then": then])]
                }
            } catch {
                let last = attempt + 1 == Self.reopenAttempts
                // The last: the flow stays recorded as delivered, which nothing revisits; the operator refunds it by hand.
                logger.log(level: last ? .critical : .warning, last ? "settled answer not delivered and not recorded as such; refund it by hand (tollgate refund \(correlationId) --reason \"not delivered\") after checking its trace"
                                                                   : "settled answer not delivered; recording it failed, trying again",
                           metadata: ["tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)"])
                if !last { try? await Task.sleep(for: .milliseconds(200 << attempt)) }
            }
        }
        guard let reopened else { return }
        switch reopened {
        case .unchanged:
            logger.notice("settled answer not delivered; left as it is (delivered more than once, or no longer settled and delivered)",
                          metadata: ["tollgate.correlation_id": "\(correlationId)"])
            return
        case .keptForOwner:
            logger.notice("settled answer not delivered; kept for the client's retry", metadata: ["tollgate.correlation_id": "\(correlationId)"])
            return
        case .notKept:
            break
        }
        guard automaticRefunds else { return }
        do {
            let refund = try await store.refund(RefundRequest(correlationId: correlationId, reason: "not delivered: \(Reason.connectionFailed.rawValue)",
                                                              actor: "tollgate", automatic: true, onlyIfUndelivered: true),
                                                nowMillis: clock.nowMillis())
            logger.warning("settled answer not delivered; refund recorded", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.refund": "\(refund.id)",
            ])
        } catch let error as TollgateError where error.code == .delivered {
            logger.notice("settled answer not delivered; a retry got it meanwhile", metadata: ["tollgate.correlation_id": "\(correlationId)"])
        } catch let error as TollgateError where error.code == .unitsSpent {
            // A package bought and then spent: its client used what it paid for, so an operator decides.
            await listForReview(delivery.key, detail: "settled but not delivered; \(error.message)", actor: "tollgate")
        } catch {
            // Still settled and undelivered unless delivered since: the reconciler refunds it after the window.
            logger.error("settled answer not delivered and no refund recorded yet", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)",
            ])
        }
    }
}
