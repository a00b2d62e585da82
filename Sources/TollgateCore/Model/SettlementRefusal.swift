/// What a facilitator's refusal to settle says of the money: the one reading of it for the gateway resolving a
/// settlement and the paying client reading a failed receipt.
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
}
