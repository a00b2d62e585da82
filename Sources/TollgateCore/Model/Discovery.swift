/// What a paid route publishes for agents looking for something to buy: how it is called and what it answers. The
/// gateway's `/.well-known/x402` manifest and the bazaar extension of its 402s are both written from it and from the
/// route's own terms, so the configuration stays the only copy of a price.
public struct Discovery: Sendable, Hashable {
    /// The HTTP method a client calls it with; nil on a route that takes any method (a 402 then names the request's).
    public var method: String?
    /// JSON Schema of the query parameters (an object schema), and an example of them.
    public var querySchema: JSONValue?
    public var queryExample: JSONValue?
    /// How the body is encoded (`json`, `form-data`, `text`) when the call takes one, its JSON Schema and an example.
    public var bodyType: String?
    public var bodySchema: JSONValue?
    public var bodyExample: JSONValue?
    /// JSON Schema of the answer, and an example of it.
    public var outputSchema: JSONValue?
    public var outputExample: JSONValue?

    public init(method: String?, querySchema: JSONValue? = nil, queryExample: JSONValue? = nil, bodyType: String? = nil,
                bodySchema: JSONValue? = nil, bodyExample: JSONValue? = nil, outputSchema: JSONValue? = nil, outputExample: JSONValue? = nil) {
        self.method = method
        self.querySchema = querySchema
        self.queryExample = queryExample
        self.bodyType = bodyType
        self.bodySchema = bodySchema
        self.bodyExample = bodyExample
        self.outputSchema = outputSchema
        self.outputExample = outputExample
    }

    /// This discovery with the method of a request filled in where the route takes any.
    public func called(with method: String) -> Discovery {
        guard self.method == nil else { return self }
        var called = self
        called.method = method
        return called
    }

    /// Whether calls carry a body (the method's, or the configuration says so).
    public var takesBody: Bool {
        bodyType != nil || bodySchema != nil || bodyExample != nil || ["POST", "PUT", "PATCH"].contains(method ?? "")
    }
}
