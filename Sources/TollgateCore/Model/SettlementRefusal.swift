/// What a facilitator's refusal to settle says of the money: the one reading of it for the gateway resolving a
/// settlement and the paying client reading a failed receipt or a 402 that answered its proof.
public enum SettlementRefusal {
    /// Whether a refusal with this reason proves no transfer of the authorization happened. A refusal of the signature,
    /// the payee or the amount (an x402 `invalid_…` code) would have refused every attempt: nothing moved. Any other
    /// reason (a timeout's text, `unexpected_settle_error`, `settlement_pending`) says nothing. `resent`: the same
    /// authorization was sent before, and an earlier attempt that landed would itself cause a refusal of the window
    /// (`valid_before`), the nonce, or the balance (`insufficient_funds`): those prove nothing then either.
    public static func nothingMoved(_ reason: String, resent: Bool) -> Bool {
        let coded = reason.hasPrefix("invalid_") && reason.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }
        guard resent else { return (coded && !reason.contains("nonce")) || reason == "insufficient_funds" }
        return coded && !["valid_before", "nonce", "balance", "insufficient", "expired"].contains { reason.contains($0) }
    }

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
