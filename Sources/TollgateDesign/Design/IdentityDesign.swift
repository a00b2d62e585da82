/// Who can call: the kinds of identity this configuration accepts, its clients, scopes and payer lists.
public struct IdentityDesign: Sendable, Hashable, Codable {
    /// Among `api_key`, `jwt`, `anonymous`, in that order.
    public var kinds: [String]
    /// Sorted by id.
    public var clients: [ClientDesign]
    public var jwt: JWTDesign?
    /// Resources of routes open to callers without credentials, in route order.
    public var anonymousRoutes: [String]
    /// Sorted by scope.
    public var scopes: [ScopeDesign]
    /// Sorted organisations of the clients.
    public var organisations: [String]
    /// nil: any payer may pay. Otherwise the sorted lowercase addresses allowed.
    public var payerAllowList: [String]?
    /// Sorted lowercase addresses always refused.
    public var payerDenyList: [String]
}
