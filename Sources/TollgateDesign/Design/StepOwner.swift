/// Who is responsible for one step of a request: who runs the check, or whose decision it applies.
public enum StepOwner: String, Sendable, Hashable, Codable, CaseIterable {
    /// Tollgate itself, from the configuration.
    case gateway
    /// The x402 facilitator (`/verify`, `/settle`).
    case facilitator
    /// The protected API behind the gateway.
    case upstream
    /// The people running the gateway: switches, revocations, refunds, payouts.
    case `operator`
    /// The caller: picks an offer and signs the payment.
    case client
}
