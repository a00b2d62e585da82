import HTTPTypes
import TollgateCore
import Yams

extension ConfigurationLoader {
    /// The metering keys of a paid route (docs/configuration.md, "Metering"): `unit`, `quantity`, `measure`,
    /// `consumed`, `settle` and `package`.
    static func readMetering(_ fields: [String: Node], item: Node, path: String, anonymous: Bool, _ r: inout YAMLReader) -> Metering {
        var metering = Metering()
        let unitText = r.string(fields["unit"], "\(path).unit") ?? "request"
        // `call` (an MCP tool call) is counted like a request.
        guard let unit = Metering.Unit(rawValue: unitText == "call" ? "request" : unitText) else {
            r.fail(fields["unit"], "\(path).unit", "expected one of: \(Metering.Unit.allCases.map(\.rawValue).joined(separator: ", ")), call")
            return metering
        }
        metering.unit = unit
        metering.quantity = readQuantity(fields["quantity"], path: "\(path).quantity", &r)
        metering.measure = readMeasure(fields["measure"], unit: unit, path: "\(path).measure", &r)
        if let text = r.string(fields["consumed"], "\(path).consumed") {
            if let moment = Metering.Moment(rawValue: text) { metering.moment = moment } else {
                r.fail(fields["consumed"], "\(path).consumed", "expected on_success (the upstream answered below 400) or on_request")
            }
        }
        if let text = r.string(fields["settle"], "\(path).settle") {
            if let timing = Metering.SettleTiming(rawValue: text) { metering.settle = timing } else {
                r.fail(fields["settle"], "\(path).settle", "expected after (the default: only what is delivered is settled) or before")
            }
        }
        metering.package = readPackage(fields["package"], path: "\(path).package", resource: r.string(fields["resource"], "\(path).resource") ?? "", &r)
        if unit == .package && metering.package == nil {
            r.fail(fields["unit"], "\(path).unit", "unit package needs package: the number of units one payment buys")
        }
        if metering.package != nil && anonymous {
            r.fail(fields["package"], "\(path).package", "a package is a balance of an identified client; a route open to anonymous callers cannot sell one")
        }
        return metering
    }

    /// `quantity: 10` (fixed units per payment) or `quantity: {query: NAME | body: PATH, max: N, default: N}` (priced per unit).
    static func readQuantity(_ node: Node?, path: String, _ r: inout YAMLReader) -> Metering.Quantity {
        guard let node else { return .fixed(1) }
        if node.mapping == nil { return .fixed(r.int(node, path, range: 1...1_000_000) ?? 1) }
        guard let rule = r.mapping(node, path, known: ["query", "body", "max", "default"]) else { return .fixed(1) }
        let maximum = r.int(rule["max"], "\(path).max", range: 1...1_000_000)
        if maximum == nil, rule["max"] == nil { r.fail(node, "\(path).max", "is required: the most units one request may buy") }
        let defaultValue = r.int(rule["default"], "\(path).default", range: 1...1_000_000)
        if let defaultValue, let maximum, defaultValue > maximum { r.fail(rule["default"], "\(path).default", "exceeds max (\(maximum))") }
        let query = r.string(rule["query"], "\(path).query"), body = r.string(rule["body"], "\(path).body")
        switch (query, body) {
        case (let name?, nil) where !name.isEmpty:
            return .query(name: name, defaultValue: defaultValue, maximum: maximum ?? 1)
        case (nil, let field?) where !field.isEmpty:
            return .body(path: field, defaultValue: defaultValue, maximum: maximum ?? 1)
        default:
            r.fail(node, path, "name where the quantity comes from: query (a query parameter) or body (a JSON body field), one of them")
            return .fixed(1)
        }
    }

    /// `measure: {header: NAME}` or `{json_array: PATH}`; bytes and seconds are measured by the gateway itself.
    static func readMeasure(_ node: Node?, unit: Metering.Unit, path: String, _ r: inout YAMLReader) -> Metering.Measure {
        guard let node else {
            switch unit {
            case .byte: return .bodyBytes
            case .second: return .elapsedSeconds
            case .record:
                r.warn(nil, path, "records are not counted without measure (header or json_array); each request counts what it asked for")
                return .quoted
            case .request, .package: return .quoted
            }
        }
        guard let rule = r.mapping(node, path, known: ["header", "json_array"]) else { return .quoted }
        if unit == .request || unit == .byte {
            r.fail(node, path, "a \(unit.rawValue) is counted by the gateway; measure applies to record and second")
        }
        switch (r.string(rule["header"], "\(path).header"), r.string(rule["json_array"], "\(path).json_array")) {
        case (let name?, nil):
            if HTTPField.Name(name) != nil { return .header(name) }
            r.fail(rule["header"], "\(path).header", "not a valid header name")
        case (nil, let field?):
            return .jsonArray(field == "$" ? "" : field)
        default:
            r.fail(node, path, "give header (a count in an upstream response header) or json_array (a JSON array's path, $ for the body)")
        }
        return .quoted
    }

    /// `package: 100` or `package: {units: 100, name: NAME}`: one payment buys that many units (the name lets
    /// routes share a balance; it defaults to the route's resource).
    static func readPackage(_ node: Node?, path: String, resource: String, _ r: inout YAMLReader) -> Metering.Package? {
        guard let node else { return nil }
        if node.mapping == nil {
            return r.int(node, path, range: 1...100_000_000).map { Metering.Package(name: resource, units: $0) }
        }
        guard let fields = r.mapping(node, path, known: ["units", "name"]) else { return nil }
        guard let units = r.int(fields["units"], "\(path).units", range: 1...100_000_000) else {
            if fields["units"] == nil { r.fail(node, "\(path).units", "is required: how many units one payment buys") }
            return nil
        }
        return Metering.Package(name: r.string(fields["name"], "\(path).name") ?? resource, units: units)
    }
}
