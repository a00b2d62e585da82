/// The load one facilitator must carry at the paid limits, and how long callers can keep it busy.
public struct FacilitatorCapacity: Sendable, Hashable, Codable {
    public var url: String
    /// The paid networks it serves, sorted.
    public var networks: [String]
    public var timeoutSeconds: Int
    /// The highest paid limit of the routes it serves.
    public var paidLimit: RateFigure?
    /// `/verify` + `/settle` (a pending settlement asks once more: 3).
    public var callsPerPaidRequest: Int
    /// Calls per second one caller key (client, IP prefix) can cause at the paid limit: rate × calls.
    public var callsPerSecondPerCaller: Double?
    /// Calls one caller key can keep waiting when every call runs to its timeout: rate × calls × timeout + burst.
    public var inFlightPerCaller: Int?
    /// Configured API clients (each its own paid budget).
    public var identifiedClients: Int
    /// Calls per second if every configured client runs at the paid limit.
    public var identifiedCallsPerSecond: Double?
    /// Anonymous paid routes on its networks: callers are counted per IP prefix, so there is no gateway-wide ceiling.
    public var anonymousUnbounded: Bool
    public var breaker: BreakerDesign
}
