import Foundation
import Logging
import TollgateCore
import TollgateX402

/// One authorization, sent and re-sent by one door (HTTP, MCP), and what to make of the answers: a run of a request
/// that finds an earlier authorization of it still in doubt settles that question before anything new is signed.
///
/// A 402 answering a proof frees its request (`refused`) only when its reason is coded as a refusal before any
/// settlement (`SettlementRefusal.refusedBeforeSettlement`) and the proof was sent once. One with no reason, terms this
/// client cannot read, or any other reason may hide money that moved (a server whose settlement threw answers so, the
/// transfer perhaps landed): the purchase stays `unknown` and is kept so (`Purchase.mayHaveMovedAtMillis`).
///
/// An EIP-3009 authorization can settle until its validBefore and never after. So an authorization in doubt (`signed`,
/// `sent`, `unknown`) is, by the time a run finds it:
/// - far from its validBefore (`Purchase.isResendable`): re-sent as usual, as often as `attempts` allows;
/// - too close to it to be re-sent as usual, or past it by less than the clock skew allowed: sent once (a gateway
///   serves the kept answer of a proof it knows, or resolves its settlement), and anything but a delivery or a
///   settlement leaves it in doubt and stops the run (`paymentInDoubt`): it may still settle;
/// - past it (`Purchase.hasExpired`): sent once more, for a kept answer. A 402 with fresh terms means the server holds
///   no payment for it and it can never settle any more: it ends `lapsed` and those terms are paid with a new
///   authorization. A 402 that says it was already used, or any refusal once a server said so before it expired
///   (`Purchase.saidUsedAtMillis`), means it was paid and its answer is lost: it ends `settled` and nothing new is
///   signed (`Judgement.takenWhenUsed`). Anything else (a 503 "payment in progress", a 5xx, no
///   answer, or fresh terms for one a server refused earlier in a way that may hide money that moved,
///   `Purchase.mayHaveMovedAtMillis`) leaves it in doubt, unless the chain says (`PaymentClient.chains`).
extension PaymentClient {
    /// How a door sends one purchase's proof and reads the answers.
    struct PaidExchange<Answer, Kept> {
        /// "the paid request", for messages.
        var name: String
        /// Who sends it again later, for messages.
        var rerun: String
        /// One send of the proof; throws when no answer came.
        var send: () async throws -> Answer
        /// An answer worth sending the same proof again for (the problem, and the answer's `Retry-After`).
        var retry: (Answer) -> (problem: String, retryAfter: String?)?
        /// What the answer says of the payment.
        var judge: (Answer) -> Judgement
        /// The caller's result, given the purchase as the ledger now has it.
        var kept: (Answer, Purchase?) throws -> Kept
    }

    /// What an answer to a proof says of its payment, and what the ledger keeps of it.
    struct Judgement: Sendable {
        var ending: PaymentLedger.Ending
        var reason: String?
        /// A refusal's own reason (the terms' `error`), e.g. `invalid_exact_evm_nonce_already_used`.
        var refusalCode: String?
        var status: Int?
        var correlationId: String?
        var transaction: String?
        var receipt: String?

        /// The reason of a receipt saying the server tried to settle and failed (`success: false`; the x402 Python
        /// server sends one with fresh terms, and its reason is an exception's text when its facilitator timed out).
        var settlementFailure: String?

        /// The answer asked for payment again (a 402, a PaymentRequired result): a refusal of the proof, whatever the
        /// ledger then makes of it (`refused`, or `unknown` when it may hide money that moved or came close to validBefore).
        var askedAgain = false

        /// A refusal that says the authorization was used already (`invalid_exact_evm_nonce_already_used`, in the terms
        /// or a failed receipt): taken, not merely turned away. Not `offer_already_used`: that offer was paid by another
        /// authorization, and this one moved nothing.
        var saysAlreadyUsed: Bool {
            [refusalCode, settlementFailure].contains { $0?.hasSuffix("nonce_already_used") == true }
        }

        /// Whether what the answer says of a settlement may hide money that moved: the authorization was used, or a
        /// settlement failed for a reason that does not prove the transfer never happened (`SettlementRefusal.nothingMoved`;
        /// `resent`: this authorization was sent before). Past validBefore this alone decides whether fresh terms lapse a
        /// purchase: the refusal's own reason then only says it expired.
        func settlementMayHaveMoved(resent: Bool) -> Bool {
            guard !saysAlreadyUsed else { return true }
            guard let failure = settlementFailure else { return false }
            return !SettlementRefusal.nothingMoved(failure, resent: resent)
        }

        /// Whether this answer may hide money that moved: what it says of a settlement (`settlementMayHaveMoved`), or a
        /// refusal that is not coded as made before any settlement (`SettlementRefusal.refusedBeforeSettlement` of its
        /// reason). A refusal giving no reason (no terms, terms this client cannot read, no `error`) proves nothing: a
        /// server that settles after its handler answers one when its settlement throws, the transfer perhaps on its way,
        /// and a hostile one answers one to every proof while settling each. Such a purchase stays in doubt even after one
        /// send, and is kept so (`Purchase.mayHaveMovedAtMillis`): its request is not paid anew while it may still settle,
        /// and fresh terms once it has expired do not lapse it. Only while the purchase is left open (`refusal`,
        /// `unknown`): an ending that settles the question is not in doubt.
        func mayHaveMoved(resent: Bool) -> Bool {
            if settlementMayHaveMoved(resent: resent) { return true }
            guard askedAgain, ending == .refusal || ending == .unknown else { return false }
            let reasons = [refusalCode, settlementFailure].compactMap { $0 }
            return reasons.isEmpty || reasons.contains { !SettlementRefusal.refusedBeforeSettlement($0, resent: resent) }
        }

        /// What the ledger's reason adds when the refusal itself (not a settlement it reports) leaves the purchase in
        /// doubt, so that its owner reads why a 402 did not free the request; nil otherwise.
        func doubtNote(resent: Bool) -> String? {
            guard !settlementMayHaveMoved(resent: resent), mayHaveMoved(resent: resent) else { return nil }
            let reasons = [refusalCode, settlementFailure].compactMap { $0 }
            let freesAFirstSend = !reasons.isEmpty && reasons.allSatisfy { SettlementRefusal.refusedBeforeSettlement($0, resent: false) }
            return freesAFirstSend ? "; a refusal that an earlier send of it being taken would also cause, so that send may have been taken"
                : "; not a refusal coded as made before any settlement, so it may have been taken"
        }

        /// Once expired, a refusal saying this purchase's own authorization was used already, now or by an earlier answer
        /// (`saidEarlier`, `Purchase.saidUsedAtMillis`), is no refusal: the money moved (an earlier send was taken and
        /// its answer lost), and the purchase ends settled. Before expiry it stays in doubt (see `Purchase.saidUsedAtMillis`).
        func takenWhenUsed(saidEarlier: Bool) -> Judgement {
            guard ending == .refusal, saysAlreadyUsed || saidEarlier else { return self }
            var taken = self
            taken.ending = .settledUndelivered
            taken.reason = saysAlreadyUsed ? "expired; the server says it was already used and keeps no answer for it: paid, not delivered"
                : "expired; a server said earlier it was already used, and keeps no answer for it: paid, not delivered"
            return taken
        }
    }

    /// What became of an earlier authorization in doubt.
    enum Resolution<Kept, Answer> {
        /// Answered (delivered, settled): what the caller returns.
        case answered(Kept)
        /// Expired, and the server holds no payment for it: the answer is its 402, whose fresh terms may be paid anew.
        case lapsed(Answer)
        /// Abandoned by the wallet's owner after this run found it in doubt: not sent; the request may be paid anew.
        case abandoned
    }

    /// Settles the question of `purchase`, an authorization of this request still in doubt, before anything new is
    /// signed for the request; throws `paymentInDoubt` while the server leaves it open.
    func resolve<Answer, Kept>(_ purchase: Purchase, _ exchange: PaidExchange<Answer, Kept>) async throws -> Resolution<Kept, Answer> {
        let now = nowMillis()
        if purchase.isResendable(nowSeconds: now / 1000) {
            logger.notice("re-sending the authorization signed earlier for this request", metadata: ["tollgate.purchase": "\(purchase.id)"])
            return .answered(try await resend(purchase, exchange))
        }
        let expired = purchase.hasExpired(nowSeconds: now / 1000)
        logger.notice(expired ? "asking the server once more for the expired authorization signed earlier for this request"
                              : "sending once more the authorization signed earlier for this request, close to its validBefore",
                      metadata: ["tollgate.purchase": "\(purchase.id)"])
        guard try ledger.sending(purchase.id, nowMillis: now) else {
            logger.notice("the authorization signed earlier for this request was abandoned meanwhile; not sending it",
                          metadata: ["tollgate.purchase": "\(purchase.id)"])
            return .abandoned
        }
        let answer: Answer
        do {
            answer = try await exchange.send()
        } catch let error as CancellationError {
            throw error
        } catch {
            let unanswered = Judgement(ending: .unknown, reason: "\(error)")
            try keep(purchase, unanswered)
            if expired, try await lapsedByChain(purchase, unanswered) { throw lapsedWithoutTerms(purchase, problem: "no answer (\(error))") }
            throw inDoubt(purchase, expired: expired, problem: "no answer (\(error))")
        }
        var judgement = exchange.judge(answer)
        if expired, judgement.ending != .delivered, judgement.ending != .settledUndelivered, try await lapsedByChain(purchase, judgement) {
            if judgement.ending == .refusal { return .lapsed(answer) }
            throw lapsedWithoutTerms(purchase, problem: judgement.reason ?? "no terms")
        }
        // Read again: another run may have been told meanwhile.
        let earlier = try ledger.purchase(purchase.id)
        let saidUsedEarlier = judgement.ending == .refusal && expired && earlier?.saidUsedAtMillis != nil
        let mayHaveMovedEarlier = earlier?.mayHaveMovedAtMillis != nil
        switch judgement.ending {
        case .delivered, .settledUndelivered:
            try keep(purchase, judgement)
            return .answered(try exchange.kept(answer, try ledger.purchase(purchase.id)))
        case .refusal where expired && (judgement.saysAlreadyUsed || saidUsedEarlier):
            // Used, yet no answer kept for it: paid, the answer lost. Counted, final, and nothing new signed this run.
            try keep(purchase, judgement.takenWhenUsed(saidEarlier: saidUsedEarlier))
            throw ClientError(.serverRefused, "the server \(judgement.saysAlreadyUsed ? "says" : "said earlier") the authorization "
                              + "signed earlier for this request (purchase \(purchase.id), "
                              + "\(purchase.price) to \(purchase.payee)) was already used, and it has no answer for it: it was paid and "
                              + "its answer is lost; nothing new was signed. Ask the server's operator for a refund"
                              + (judgement.correlationId.map { " (correlation id \($0))" } ?? "") + "; tollgate wallet ledger shows it")
        case .refusal where expired && !judgement.settlementMayHaveMoved(resent: true) && !mayHaveMovedEarlier:
            // Past validBefore nothing can settle it, and the server holds nothing for it: the request is free again. (A
            // settlement it says failed without saying nothing moved, now, or a refusal earlier that may hide money that
            // moved, leaves it in doubt, below: a server whose settlement timed out or threw keeps nothing, though the
            // transfer may have landed, and calls it expired now.)
            judgement.ending = .lapsed
            judgement.reason = "expired unpaid: the server holds no payment for it (\(judgement.reason ?? "HTTP 402"))"
            try keep(purchase, judgement)
            logger.notice("the authorization signed earlier for this request expired unpaid; paying the fresh terms",
                          metadata: ["tollgate.purchase": "\(purchase.id)"])
            return .lapsed(answer)
        case .refusal, .unknown, .lapsed:
            // A refusal before validBefore proves nothing (the server may still hold it); the rest leaves it open.
            let refused = judgement.ending == .refusal
            judgement.ending = .unknown
            try keep(purchase, judgement)
            var problem = judgement.reason ?? "no answer that settles it"
            if expired, refused, mayHaveMovedEarlier, !judgement.settlementMayHaveMoved(resent: true) {
                problem += "; a server refused it earlier without saying the transfer never happened (a settlement that failed or "
                    + "threw, a refusal with no code), so only the chain can tell (tollgate pay --rpc \(purchase.network)=URL asks it)"
            }
            throw inDoubt(purchase, expired: expired, problem: problem)
        }
    }

    /// The re-send loop of every door: sends the purchase's one authorization until an answer that `retry` does not
    /// turn away, at most `attempts` times and only while the authorization stays valid long enough to settle, backing
    /// off between sends; the answer is judged and kept. With no answer at all the purchase ends `unknown` (in doubt:
    /// `rerun` sends it again) and the error is `unreachable`.
    func resend<Answer, Kept>(_ purchase: Purchase, _ exchange: PaidExchange<Answer, Kept>) async throws -> Kept {
        var lastProblem = "no answer"
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 {
                guard purchase.isResendable(nowSeconds: nowMillis() / 1000) else { break }
            }
            guard try ledger.sending(purchase.id, nowMillis: nowMillis()) else {
                throw ClientError(.paymentInDoubt, "purchase \(purchase.id) was abandoned (tollgate wallet abandon) while this run was sending it: "
                                  + "it was not sent again, and it may have been taken by an earlier send; tollgate wallet ledger shows it")
            }
            let answer: Answer
            do {
                answer = try await exchange.send()
            } catch let error as CancellationError {
                throw error
            } catch {
                lastProblem = "\(error)"
                if attempt + 1 < attempts {
                    logger.warning("\(exchange.name) got no answer; re-sending the same authorization",
                                   metadata: ["tollgate.purchase": "\(purchase.id)", "tollgate.error": "\(lastProblem)"])
                    try await Task.sleep(for: Self.backoff(attempt, retryAfter: nil))
                }
                continue
            }
            if let turnedAway = exchange.retry(answer) {
                lastProblem = turnedAway.problem
                if attempt + 1 < attempts { try await Task.sleep(for: Self.backoff(attempt, retryAfter: turnedAway.retryAfter)) }
                continue
            }
            try keep(purchase, exchange.judge(answer))
            return try exchange.kept(answer, try ledger.purchase(purchase.id))
        }
        try keep(purchase, Judgement(ending: .unknown, reason: lastProblem))
        throw ClientError(.unreachable, "no answer to \(exchange.name) after \(try ledger.purchase(purchase.id)?.attempts ?? attempts) sends of the same authorization (\(lastProblem)); "
                                        + "purchase \(purchase.id) is pending: \(exchange.rerun) re-sends it (tollgate wallet pending)")
    }

    /// Writes a judgement to the ledger (a purchase already delivered or settled stays so). A refusal frees its request
    /// only when it proves nothing moved (`Judgement.mayHaveMoved`); sent more than once, a refusal that an earlier send
    /// landing would cause (the window passed, the balance spent) may hide money that moved.
    func keep(_ purchase: Purchase, _ judgement: Judgement) throws {
        let resent = (try ledger.purchase(purchase.id)?.attempts ?? 0) > 1
        var judgement = judgement
        if let note = judgement.doubtNote(resent: resent) { judgement.reason = (judgement.reason ?? "HTTP 402") + note }
        try ledger.finish(purchase.id, judgement.ending, status: judgement.status, correlationId: judgement.correlationId,
                          transaction: judgement.transaction, receipt: judgement.receipt, reason: judgement.reason,
                          saidUsed: judgement.saysAlreadyUsed, stillInDoubt: judgement.mayHaveMoved(resent: resent), nowMillis: nowMillis())
    }

    /// The run stops: `purchase` may still settle, or may have settled with its answer lost.
    func inDoubt(_ purchase: Purchase, expired: Bool, problem: String) -> ClientError {
        Self.inDoubt(purchase, expired: expired, resendable: false, problem: problem)
    }

    /// The error of a run that leaves `purchase` in doubt (`payment_in_doubt`): what may have happened to it, and when to
    /// run the request again (the same authorization is then sent once more; nothing new is signed before it is settled).
    /// The same, for `purchase` as it stands at `nowSeconds`.
    public static func inDoubt(_ purchase: Purchase, nowSeconds: Int64, problem: String) -> ClientError {
        inDoubt(purchase, expired: purchase.hasExpired(nowSeconds: nowSeconds), resendable: purchase.isResendable(nowSeconds: nowSeconds),
                problem: problem)
    }

    /// `resendable`: still far enough from its validBefore that the next run sends it again at once.
    public static func inDoubt(_ purchase: Purchase, expired: Bool, resendable: Bool, problem: String) -> ClientError {
        let when = expired ? "later, or give it up with tollgate wallet abandon \(purchase.id) (it still counts: it may have been paid)"
            : resendable ? "(it sends the same authorization once more)"
            : "after " + Self.timestamp(purchase.validBefore + Purchase.expirySkewSeconds)
            + " (when it can no longer settle, the server is asked one last time)"
        return ClientError(.paymentInDoubt, "the authorization signed for this request (purchase \(purchase.id), \(purchase.price) to "
                           + "\(purchase.payee)) may still settle or may already have settled, and the server did not say which "
                           + "(\(problem)); nothing new was signed. Run the same request again \(when); tollgate wallet pending lists it")
    }

    static func timestamp(_ seconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(seconds)))
    }
}
