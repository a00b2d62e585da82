import TollgateCore
import TollgateX402
import Yams

extension ConfigurationLoader {
    /// `x402`: `{v1: bool (default true), discovery: bool (default true)}`: whether x402 v1 clients (`X-PAYMENT`) may
    /// pay, and whether the gateway serves its manifest (`/.well-known/x402`) and the bazaar extension in its 402s.
    static func readX402(_ node: Node?, _ r: inout YAMLReader) -> GatewayConfiguration.X402Settings {
        guard let node, let fields = r.mapping(node, "x402", known: ["v1", "discovery"]) else { return .init() }
        return .init(v1: r.bool(fields["v1"], "x402.v1") ?? true, discovery: r.bool(fields["discovery"], "x402.discovery") ?? true)
    }

    static let discoveryKeys: Set<String> = [
        "query_schema", "query_example", "body_type", "body_schema", "body_example", "output_schema", "output_example",
    ]

    /// A paid route's `discovery`: `false` (not listed), or what callers send and get: JSON Schemas and examples of the
    /// query parameters, the body and the answer. Absent: listed with its method and terms only.
    static func readDiscovery(_ node: Node?, path: String, method: String?, paid: Bool, _ r: inout YAMLReader) -> Discovery? {
        guard paid else {
            if node != nil { r.fail(node, "\(path).discovery", "only applies to a paid route (set price): free routes are not listed") }
            return nil
        }
        var discovery = Discovery(method: method)
        guard let node else { return discovery }
        if case .scalar = node {
            guard let listed = node.bool else {
                r.fail(node, "\(path).discovery", "expected false (not listed) or a mapping of schemas and examples")
                return discovery
            }
            return listed ? discovery : nil
        }
        guard let fields = r.mapping(node, "\(path).discovery", known: discoveryKeys) else { return discovery }
        func json(_ key: String, object: Bool) -> JSONValue? {
            guard let value = fields[key] else { return nil }
            guard let converted = jsonValue(value) else {
                r.fail(value, "\(path).discovery.\(key)", "expected plain YAML (mappings, lists, strings, numbers, booleans)")
                return nil
            }
            if object, case .object = converted {} else if object {
                r.fail(value, "\(path).discovery.\(key)", "expected a mapping")
                return nil
            }
            return converted
        }
        discovery.querySchema = json("query_schema", object: true)
        discovery.queryExample = json("query_example", object: true)
        discovery.bodySchema = json("body_schema", object: true)
        discovery.bodyExample = json("body_example", object: false)
        discovery.outputSchema = json("output_schema", object: true)
        discovery.outputExample = json("output_example", object: false)
        if let bodyType = r.string(fields["body_type"], "\(path).discovery.body_type") {
            if ["json", "form-data", "text"].contains(bodyType) {
                discovery.bodyType = bodyType
            } else {
                r.fail(fields["body_type"], "\(path).discovery.body_type", "expected json, form-data or text")
            }
        }
        for key in ["body_schema", "body_example", "body_type"] where fields[key] != nil && ["GET", "HEAD", "DELETE"].contains(method ?? "") {
            r.fail(fields[key], "\(path).discovery.\(key)", "a \(method ?? "") route takes no body")
        }
        return discovery
    }

    /// A public route's discovery data rides in every 402's `PAYMENT-REQUIRED` header (the bazaar extension), base64-encoded
    /// next to one signed offer per way to pay. Proxies and clients commonly cap a header at 8 KiB.
    static func warnAboutHeaderSize(_ route: Route, node: Node?, path: String, _ r: inout YAMLReader) {
        guard route.isPublic, let discovery = route.discovery, let pricing = route.pricing else { return }
        let bazaar = JSONWriter.bytes(ExactEVMRail.bazaar(discovery.called(with: discovery.method ?? "GET"))).count
        // About 300 bytes of terms and resource, and 700 per way to pay (its requirements and signed offer), before base64.
        let estimate = (300 + 700 * pricing.accepts.count + bazaar) * 4 / 3
        if estimate > 6 * 1024 {
            r.warn(node, "\(path).discovery", "its 402s' PAYMENT-REQUIRED header would be about \(estimate / 1024) KiB (the bazaar extension is "
                + "\(bazaar) bytes of it); proxies and clients often cap a header at 8 KiB: shorten the schemas and examples")
        }
    }

    /// YAML as JSON: mappings with string keys, lists, and scalars by their resolved tag (a quoted "1" stays a string).
    static func jsonValue(_ node: Node) -> JSONValue? {
        switch node {
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard let name = key.string, let converted = jsonValue(value) else { return nil }
                object[name] = converted
            }
            return .object(object)
        case .sequence(let sequence):
            var array: [JSONValue] = []
            for item in sequence {
                guard let converted = jsonValue(item) else { return nil }
                array.append(converted)
            }
            return .array(array)
        case .scalar(let scalar):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return node.bool.map(JSONValue.bool)
            case Tag.Name.int.rawValue: return node.wholeNumber.map { .integer(Int64($0)) }
            case Tag.Name.float.rawValue: return node.float.flatMap { $0.isFinite ? JSONValue.number($0) : nil }
            default: return .string(scalar.string)
            }
        case .alias:
            return nil
        }
    }
}
