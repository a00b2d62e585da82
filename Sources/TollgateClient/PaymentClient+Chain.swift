import Foundation
import Logging
import TollgateCore
import TollgateX402

/// An authorization in doubt past its validBefore, settled by the chain rather than by what a server says: a server
/// whose settlement timed out may answer fresh terms although the transfer landed, and one that answers 503 forever
/// never says. With a node for the purchase's network (`PaymentClient.chains`), `authorizationState(payer, nonce)` is
/// the answer: used is paid (its answer lost); cancelled, or unused at a block past its validBefore, can never move
/// money any more.
extension PaymentClient {
    /// Past validBefore and with no answer that delivered or settled: what the chain says, written to the ledger. Used:
    /// the purchase ends settled and this throws (paid, its answer lost; nothing new is signed). Unused or cancelled: it
    /// ends lapsed and this returns true (its request is free again). No node for its network: false, nothing written.
    /// A node that cannot answer leaves it in doubt (throws `paymentInDoubt`).
    func lapsedByChain(_ purchase: Purchase, _ judgement: Judgement) async throws -> Bool {
        guard let chain = chains[purchase.network] else { return false }
        let state: ChainAuthorization
        do {
            // Nothing can have spent the purchase's fresh nonce before it was signed and written, just before it was sent.
            state = try await chain.authorization(asset: purchase.asset, payer: purchase.payer, nonce: purchase.nonce,
                                                  since: purchase.createdAtMillis / 1000, logger: logger)
        } catch {
            // The node's URL often carries an API key: only its origin is shown, never the failure's authority.
            let why = (error as? RailFailure).map { "\($0.code): \($0.message)" } ?? "\(type(of: error))"
            throw inDoubt(purchase, expired: true, problem: "\(judgement.reason ?? "no answer that settles it"); the node at "
                          + "\(chain.shown) could not say whether it was used (\(why))")
        }
        if case .unused(let blockTime) = state, !state.neverMoves(validBefore: purchase.validBefore) {
            // This machine's clock says it expired; the chain's head does not (a node behind, or a clock ahead): it may still
            // be mined, so nothing lapses and nothing new is signed.
            throw inDoubt(purchase, expired: true, problem: "\(judgement.reason ?? "no answer that settles it"); the node at \(chain.shown) "
                          + "shows it unused, but its latest block (\(Self.timestamp(blockTime))) is before the authorization's validBefore "
                          + "(\(Self.timestamp(purchase.validBefore))): it may still be used")
        }
        var verdict = judgement
        switch state {
        case .used(let transaction), .usedElsewhere(let transaction):
            // Asked without a payee, the reader never says "elsewhere"; either way the payer's money moved.
            verdict.ending = .settledUndelivered
            verdict.transaction = transaction ?? judgement.transaction
            verdict.reason = "expired; the chain shows it used" + (transaction.map { " (transaction \($0))" } ?? "") + ": paid, not delivered"
            try keep(purchase, verdict)
            throw ClientError(.serverRefused, "the chain shows the authorization signed earlier for this request (purchase \(purchase.id), "
                              + "\(purchase.price) to \(purchase.payee)) was used" + (transaction.map { " in transaction \($0)" } ?? "")
                              + ", and the server has no answer for it: it was paid and its answer is lost; nothing new was signed. "
                              + "Ask the server's operator for a refund; tollgate wallet ledger shows it")
        case .unused, .cancelled:
            verdict.ending = .lapsed
            verdict.reason = "expired unused: the chain shows it was never " + (state == .cancelled ? "used (cancelled)" : "used")
            try keep(purchase, verdict)
            logger.notice("the authorization signed earlier for this request expired unused (the chain says so); the request is free again",
                          metadata: ["tollgate.purchase": "\(purchase.id)"])
            return true
        }
    }

    /// The error of a run whose earlier authorization the chain showed lapsed while the server gave no terms to pay.
    func lapsedWithoutTerms(_ purchase: Purchase, problem: String) -> ClientError {
        ClientError(.serverRefused, "the authorization signed earlier for this request (purchase \(purchase.id)) expired unused, as the "
                    + "chain shows, and the server gave no terms to pay anew (\(problem)); run the request again")
    }
}
