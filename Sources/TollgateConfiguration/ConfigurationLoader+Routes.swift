import Foundation
import HTTPTypes
import TollgateCore
import TollgateX402
import Yams

/// Reading `routes` (and an MCP gateway's priced `mcp.tools`) and a paid route's pricing.
extension ConfigurationLoader {
    static let routeKeys: Set<String> = [
        "method", "path", "resource", "description", "mime_type", "price", "accepts", "unit", "quantity", "scope", "anonymous",
        "pay_to", "offer_validity_seconds", "max_timeout_seconds", "limits", "private_fields", "action_scopes",
        "measure", "consumed", "settle", "package", "redeliver", "x402_v1", "discovery",
    ]

    /// A priced MCP tool's keys: a route's, named instead of placed (no query, no HTTP method to scope).
    static let toolKeys: Set<String> = routeKeys.subtracting(["method", "path", "action_scopes", "private_fields", "x402_v1", "discovery"])
        .union(["name"])

    /// `routes`, or with `tools` the priced tools of an MCP gateway (`mcp.tools`): the same keys, with `name`
    /// instead of `method` and `path` (a tool is the route `POST /<name>` of the MCP door's journey).
    static func readRoutes(_ node: Node?, assets: [Asset], payTo: String?, clients: [ClientRecord], root: Node,
                           tools: Bool = false, _ r: inout YAMLReader) -> [Route] {
        let section = tools ? "mcp.tools" : "routes"
        guard let items = r.sequence(node, section) else {
            if node == nil && !tools { r.fail(root, "routes", "is required: the list of routes the gateway serves") }
            return []
        }
        var result: [Route] = []
        for (index, item) in items.enumerated() {
            let path = "\(section)[\(index)]"
            guard let fields = r.mapping(item, path, known: tools ? toolKeys : routeKeys) else { continue }
            let method: HTTPRequest.Method?
            let pathPattern: PathPattern?
            let resource: String
            if tools {
                let name = r.string(fields["name"], "\(path).name", required: true, parent: item) ?? ""
                if !MCPConfiguration.isToolName(name) {
                    r.fail(fields["name"] ?? item, "\(path).name", "expected a tool name of 1 to 128 letters, digits, _, - or .")
                }
                if result.contains(where: { $0.path == PathPattern("/" + name) }) { r.fail(fields["name"], "\(path).name", "\(name) is priced twice") }
                method = .post
                pathPattern = PathPattern("/" + name)
                resource = r.string(fields["resource"], "\(path).resource") ?? "tool:\(name)"
            } else {
                let methodText = r.string(fields["method"], "\(path).method")?.uppercased()
                method = methodText.flatMap { $0 == "*" || $0 == "ANY" ? nil : HTTPRequest.Method($0) }
                if let methodText, methodText != "*", methodText != "ANY", method == nil { r.fail(fields["method"], "\(path).method", "not an HTTP method") }
                let pattern = r.string(fields["path"], "\(path).path", required: true, parent: item) ?? "/"
                pathPattern = PathPattern(pattern)
                if pathPattern == nil {
                    r.fail(fields["path"], "\(path).path", "must start with /")
                } else if case .failure(let refusal) = RequestPath.normalize(pattern) {
                    // No request that reaches a route has such a path: the route could never match.
                    r.fail(fields["path"], "\(path).path", "no request can have this path (\(refusal.detail))")
                }
                if pattern.contains(";") {
                    r.fail(fields["path"], "\(path).path", "must not contain ; (a segment's path parameters are left out of matching: write the path without them)")
                }
                resource = r.string(fields["resource"], "\(path).resource", required: true, parent: item) ?? ""
            }
            let scope = r.string(fields["scope"], "\(path).scope")
            let anonymous = r.bool(fields["anonymous"], "\(path).anonymous") ?? false
            if anonymous && scope != nil {
                r.fail(fields["anonymous"], "\(path).anonymous", "a route with a scope cannot be open to anonymous callers")
            }
            if let scope, !clients.contains(where: { $0.holds(scope) }) {
                r.warn(fields["scope"], "\(path).scope", "no configured client holds \(scope)")
            }
            var pricing = readPricing(fields, item: item, path: path, assets: assets, payTo: payTo, &r)
            pricing?.metering = readMetering(fields, item: item, path: path, anonymous: anonymous, &r)
            if pricing == nil {
                for key in ["accepts", "unit", "quantity", "pay_to", "offer_validity_seconds", "max_timeout_seconds", "measure", "consumed",
                            "settle", "package"] where fields[key] != nil {
                    r.fail(fields[key], "\(path).\(key)", "only applies to a paid route (set price)")
                }
            }
            var privateFields: Route.PrivateFields?
            if let rule = r.mapping(fields["private_fields"], "\(path).private_fields", known: ["scope", "fields"]) {
                let ruleScope = r.string(rule["scope"], "\(path).private_fields.scope", required: true, parent: fields["private_fields"]) ?? ""
                let names = r.strings(rule["fields"], "\(path).private_fields.fields") ?? []
                if names.isEmpty { r.fail(fields["private_fields"], "\(path).private_fields.fields", "name at least one field") }
                privateFields = Route.PrivateFields(scope: ruleScope, fields: Set(names))
            }
            var actionScopes: [String: String] = [:]
            if let node = fields["action_scopes"] {
                if let pairs = node.mapping {
                    for (key, value) in pairs {
                        guard let action = key.string, let scopeName = value.string,
                              action.hasPrefix("?") ? action.count > 1 : HTTPRequest.Method(action.uppercased()) != nil else {
                            r.fail(key, "\(path).action_scopes", "expected METHOD: scope or ?parameter: scope")
                            continue
                        }
                        actionScopes[action] = scopeName
                    }
                } else {
                    r.fail(node, "\(path).action_scopes", "expected a mapping of actions to scopes")
                }
            }
            guard let pathPattern else { continue }
            var built = Route(method: method, path: pathPattern, resource: resource,
                                description: r.string(fields["description"], "\(path).description") ?? resource,
                                mimeType: r.string(fields["mime_type"], "\(path).mime_type") ?? "application/json",
                                scope: scope, allowsAnonymous: anonymous, pricing: pricing, privateFields: privateFields)
            built.actionScopes = actionScopes
            built.redeliver = r.bool(fields["redeliver"], "\(path).redeliver")
            if !tools {
                built.discovery = readDiscovery(fields["discovery"], path: path, method: method?.rawValue, paid: pricing != nil, &r)
                warnAboutHeaderSize(built, node: fields["discovery"], path: path, &r)
                if let v1 = r.bool(fields["x402_v1"], "\(path).x402_v1") {
                    if pricing == nil { r.fail(fields["x402_v1"], "\(path).x402_v1", "only applies to a paid route (set price)") }
                    if !v1 { built.rails = [ExactEVMRail.v2Name] }
                }
            }
            if pricing == nil, fields["redeliver"] != nil { r.fail(fields["redeliver"], "\(path).redeliver", "only applies to a paid route (set price)") }
            result.append(built)
        }
        return result
    }

    static func readPricing(_ fields: [String: Node], item: Node, path: String, assets: [Asset], payTo: String?,
                            _ r: inout YAMLReader) -> Route.Pricing? {
        guard let price = r.string(fields["price"], "\(path).price") else { return nil }
        let assetIds = r.strings(fields["accepts"], "\(path).accepts") ?? (assets.count == 1 ? [assets[0].id] : [])
        if assetIds.isEmpty { r.fail(fields["accepts"] ?? item, "\(path).accepts", "name the assets this route accepts (ids from assets)") }
        let routePayTo = r.string(fields["pay_to"], "\(path).pay_to") ?? payTo
        if let routePayTo, !isAddress(routePayTo) { r.fail(fields["pay_to"], "\(path).pay_to", "expected a 0x-prefixed 20-byte hex address") }
        if routePayTo == nil { r.fail(item, "\(path).pay_to", "a paid route needs pay_to (here or at the top level)") }
        var accepts: [Route.Acceptance] = []
        for id in assetIds {
            guard let asset = assets.first(where: { $0.id == id }) else {
                r.fail(fields["accepts"], "\(path).accepts", "unknown asset \(id)")
                continue
            }
            guard let amount = TokenAmount(decimal: price, decimals: asset.decimals), !amount.isZero else {
                r.fail(fields["price"], "\(path).price", "\(price) is not a positive decimal amount with at most \(asset.decimals) decimals")
                continue
            }
            accepts.append(Route.Acceptance(asset: asset, amount: amount, payTo: routePayTo ?? ""))
        }
        let unit = fields["unit"]?.string ?? (path.hasPrefix("mcp.") ? "call" : "request")
        let validity = r.int(fields["offer_validity_seconds"], "\(path).offer_validity_seconds", range: 5...3600) ?? 300
        let maxTimeout = r.int(fields["max_timeout_seconds"], "\(path).max_timeout_seconds", range: 10...3600) ?? 60
        // A quantity rule (a mapping) prices per unit; readMetering reads it. A number is the units one payment buys.
        let fixed = fields["quantity"].flatMap { $0.mapping == nil ? $0.wholeNumber : nil } ?? 1
        return Route.Pricing(price: price, accepts: accepts, unit: unit, quantity: fixed,
                             offerValiditySeconds: validity, maxTimeoutSeconds: maxTimeout)
    }
}
