/// Where a step sits in the flow of one request: shared by every request, only on the way to a 402
/// (no proof), or only for a request carrying a proof.
public enum FlowLane: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every request on a route: intake, route, identify, authorize, incident switch, quantity.
    case common
    /// A request without `PAYMENT-SIGNATURE`: package balance, unpaid limit, the 402 and the client signing.
    case noProof = "no_proof"
    /// A request with `PAYMENT-SIGNATURE`: from the invalid-proof budget to the response.
    case proof
}
