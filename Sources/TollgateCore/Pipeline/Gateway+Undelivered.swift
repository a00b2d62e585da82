import Logging

extension Gateway {
    /// A door could not deliver a settled answer (the connection failed after settlement, the result could not be
    /// read). Unless a later delivery of the flow was recorded meanwhile (its owner's retry, served on another
    /// connection or instance), the flow becomes settled and undelivered again (`reopenDelivery`):
    /// - with an answer kept that its owner can fetch again (an identified client, or a payment naming itself with a
    ///   `payment-identifier`), the owner's retry of the same proof gets it and records its delivery; if nobody comes
    ///   back within the idempotency window, the reconciler refunds it (or lists it for review with automatic refunds
    ///   off). Never both: each of those writes holds only while the flow is settled and undelivered.
    /// - with nothing kept for its owner, the payment becomes a `pending_payout` refund at once (automatic refunds on;
    ///   off, the reconciler lists it for review), and a retry of the proof is told of the refund.
    ///
    /// Either way the failure is audited (`respond`/`connection_failed`, `then` saying what became of it). A delivery
    /// that is not the flow's last (a replay served meanwhile) changes nothing: the flow was delivered.
    public func undelivered(_ delivery: SettledDelivery, detail: String) async {
        let correlationId = delivery.correlationId, automaticRefunds = settings.automaticRefunds, clock = self.clock
        let reopened: ReopenedDelivery
        do {
            reopened = try await store.reopenDelivery(delivery, nowSeconds: clock.nowSeconds) { outcome in
                let then = outcome == .reopened ? (automaticRefunds ? "refunded" : "review") : outcome.rawValue
                return [AuditEvent(correlationId: correlationId, timeMillis: clock.nowMillis(), stage: .respond, outcome: .error,
                                   reason: Reason.connectionFailed.rawValue, details: ["detail": detail, "settled": "true", "then": then])]
            }
        } catch {
            logger.critical("settled answer not delivered and not recorded as such", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)",
            ])
            return
        }
        switch reopened {
        case .unchanged:
            logger.notice("settled answer not delivered; the flow was delivered since", metadata: ["tollgate.correlation_id": "\(correlationId)"])
        case .keptForOwner:
            logger.notice("settled answer not delivered; kept for the client's retry", metadata: ["tollgate.correlation_id": "\(correlationId)"])
        case .reopened:
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
            } catch {
                // Still settled and undelivered unless delivered since: the reconciler refunds it after the window.
                logger.error("settled answer not delivered and no refund recorded yet", metadata: [
                    "tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)",
                ])
            }
        }
    }
}
