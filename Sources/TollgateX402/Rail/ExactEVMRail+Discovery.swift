import TollgateCore

/// What the rails publish about a route: the bazaar extension of a 402 (the x402 bazaar specification,
/// `specs/extensions/bazaar.md`) and the route's entry in the gateway's manifest, both from its `Discovery` and terms.
extension ExactEVMRail {
    public static let bazaarExtension = "bazaar"
    /// Where the gateway serves its manifest: the well-known path crawlers of x402 resources read.
    public static let discoveryPath = "/.well-known/x402"

    public func catalogue(_ challenge: PaymentChallenge) -> [String: JSONValue] {
        if version == X402V1.version {
            let accepts = Self.nameable(challenge.offers).map {
                JSONValue.parse(JSONWriter.bytes(v1Requirements(for: $0, resource: challenge.resourceURL, description: challenge.description,
                                                                mimeType: challenge.mimeType, discovery: challenge.discovery))) ?? .null
            }
            return accepts.isEmpty ? [:] : ["acceptsV1": .array(accepts)]
        }
        let accepts = challenge.offers.map { signed -> JSONValue in
            var requirements = requirements(for: signed)
            requirements.extra?[X402.offerExtraKey] = nil
            return JSONValue.parse(JSONWriter.bytes(requirements)) ?? .null
        }
        var members: [String: JSONValue] = ["x402Version": .integer(Int64(X402.version)), "accepts": .array(accepts)]
        if let discovery = challenge.discovery {
            members["extensions"] = .object([Self.bazaarExtension: Self.bazaar(discovery)])
        }
        return members
    }

    /// `{"info": {"input": …, "output": …}, "schema": <JSON Schema of info>}`. `info` holds examples (what a call looks
    /// like), `schema` the shapes; a facilitator validates the one against the other, so an example that is not
    /// configured is left out rather than invented, and a body without an example is described as any object.
    public static func bazaar(_ discovery: Discovery) -> JSONValue {
        let method = discovery.method ?? "GET"
        var input: [String: JSONValue] = ["type": .string("http"), "method": .string(method)]
        var inputSchema: [String: JSONValue] = [
            "type": .object(["type": .string("string"), "const": .string("http")]),
            "method": .object(["type": .string("string"), "enum": .array([.string(method)])]),
        ]
        var required: [JSONValue] = [.string("type"), .string("method")]
        if let example = discovery.queryExample { input["queryParams"] = example }
        if discovery.querySchema != nil || discovery.queryExample != nil {
            inputSchema["queryParams"] = discovery.querySchema ?? .object(["type": .string("object")])
        }
        if discovery.takesBody {
            let bodyType = discovery.bodyType ?? "json"
            input["bodyType"] = .string(bodyType)
            input["body"] = discovery.bodyExample ?? .object([:])
            inputSchema["bodyType"] = .object(["type": .string("string"), "enum": .array([.string(bodyType)])])
            inputSchema["body"] = discovery.bodyExample == nil ? .object([:]) : (discovery.bodySchema ?? .object([:]))
            required += [.string("bodyType"), .string("body")]
        }
        var info: [String: JSONValue] = ["input": .object(input)]
        var schemaProperties: [String: JSONValue] = [
            "input": .object(["type": .string("object"), "properties": .object(inputSchema), "required": .array(required),
                              "additionalProperties": .bool(false)]),
        ]
        if discovery.outputSchema != nil || discovery.outputExample != nil {
            var output: [String: JSONValue] = ["type": .string("json")]
            output["example"] = discovery.outputExample
            info["output"] = .object(output)
            var outputProperties: [String: JSONValue] = ["type": .object(["type": .string("string")])]
            if discovery.outputExample != nil { outputProperties["example"] = discovery.outputSchema ?? .object([:]) }
            schemaProperties["output"] = .object(["type": .string("object"), "properties": .object(outputProperties),
                                                  "required": .array([.string("type")])])
        }
        return .object([
            "info": .object(info),
            "schema": .object([
                "$schema": .string("https://json-schema.org/draft/2020-12/schema"), "type": .string("object"),
                "properties": .object(schemaProperties), "required": .array([.string("input")]),
            ]),
        ])
    }
}
