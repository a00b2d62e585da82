/// One scope: which routes need it (and for what) and which configured clients hold it.
public struct ScopeDesign: Sendable, Hashable, Codable {
    public var scope: String
    /// `reports (route)`, `datasets (POST)`, `datasets (private fields)`, in route order.
    public var requiredBy: [String]
    /// Client ids, sorted (JWT subjects carry their scopes in the token and are not listed).
    public var heldBy: [String]
}
