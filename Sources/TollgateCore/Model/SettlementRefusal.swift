/// What a facilitator's refusal to settle says of the money: the one reading of it for the gateway resolving a
/// settlement and the paying client reading a failed receipt or a 402 that answered its proof.
public enum SettlementRefusal {
    /// Whether a refusal with this reason proves no transfer of the authorization happened: an x402 `invalid_…` code naming
    /// a check of the payload or the requirements a facilitator makes before it sends anything (`checkedBeforeSending`:
    /// the signature, the payee, the amount, the network), which would have refused every attempt, or a first send's
    /// `insufficient_funds`. A code naming what happened to a transaction sent (`maybeSent`: the x402 SDKs'
    /// `…_failed_to_get_receipt`, `…_failed_to_execute_transfer`, `…_transaction_failed`, `…_transfer_event_mismatch`) proves
    /// nothing, nor does any code this list does not know or any other text (`unexpected_settle_error`,
    /// `settlement_pending`, a timeout's message): the transaction may have been broadcast, and may land. `resent`: the same
    /// authorization was sent before, and an earlier attempt that landed would itself cause a refusal of the window
    /// (`valid_before`), the nonce, the balance, or a reverted transaction (`invalid_transaction_state`): those prove
    /// nothing then either.
    public static func nothingMoved(_ reason: String, resent: Bool) -> Bool {
        if reason == "insufficient_funds" { return !resent }
        guard reason.hasPrefix("invalid_"), reason.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }),
              !maybeSent.contains(where: reason.contains) else { return false }
        if resent && landedFirstSendCauses.contains(where: reason.contains) { return false }
        // The x402 specification's code for a transaction that reverted: for a first send nothing moved.
        return reason == "invalid_transaction_state" || checkedBeforeSending.contains(where: reason.contains)
    }

    /// Words of an x402 code naming what a facilitator checks before sending a transaction (the exact scheme's
    /// `invalid_exact_evm_payload_…`, `…_token_name_mismatch`, `…_transaction_simulation_failed`, the specification's
    /// `invalid_payload`, `invalid_network`, `invalid_scheme`, the protocol's or the token's version).
    static let checkedBeforeSending = [
        "payload", "payment_requirements", "signature", "recipient", "value", "amount", "valid_after", "valid_before", "network",
        "scheme", "version", "asset", "token_name", "not_supported", "simulation", "eip712_domain",
        "smart_wallet", "insufficient_balance", "insufficient_funds",
    ]
    /// Words of an x402 code naming a transaction sent, or perhaps sent: whatever else the code names, money may move.
    static let maybeSent = [
        "nonce", "receipt", "execute", "transaction_failed", "event", "pending", "broadcast", "submit", "settled", "mined", "confirm",
        "landed", "timeout", "timed_out",
    ]
    /// Words of a code a first send that landed would itself cause when the authorization is sent again.
    static let landedFirstSendCauses = ["valid_before", "balance", "insufficient", "expired", "transaction_state"]

    /// Whether the reason a server gave for refusing a proof (the `error` of the 402 that answered it) proves the proof
    /// moved no money: one `nothingMoved` accepts, or, for a proof sent once, a Tollgate gateway's refusal before it
    /// claims anything of the proof (`beforeAnyClaim`). Any other reason proves nothing, and neither does a 402 that
    /// gives none: a server that settles after its handler answers one when its settlement throws, the transfer perhaps
    /// already broadcast (x402-express v1 writes the thrown error as `"error": {}`).
    public static func refusedBeforeSettlement(_ reason: String, resent: Bool) -> Bool {
        nothingMoved(reason, resent: resent) || (!resent && beforeAnyClaim.contains(Reason(reason)))
    }

    /// A Tollgate gateway's refusals of a proof at its offer check and its claim of the offer, made before anything of
    /// the proof is claimed: the echoed offer is missing, not the gateway's, expired (no claim of the proof either: a late
    /// retry is looked up first), made for another client, request or price, or already paid by another authorization.
    /// Only for a first send: a proof sent again meets them although its first send was claimed (a price changed
    /// meanwhile, an offer key rotated).
    public static let beforeAnyClaim: Set<Reason> = [
        .offerMissing, .offerInvalid, .offerExpired, .offerClientMismatch, .offerResourceMismatch, .offerTermsMismatch, .offerAlreadyUsed,
    ]
}
