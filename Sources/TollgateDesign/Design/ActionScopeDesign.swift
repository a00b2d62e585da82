/// An action that needs its own scope on top of the route's: an HTTP method or a query parameter (`?export`).
public struct ActionScopeDesign: Sendable, Hashable, Codable {
    public var action: String
    public var scope: String
}
