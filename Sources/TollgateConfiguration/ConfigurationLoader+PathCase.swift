import HTTPTypes
import TollgateCore
import Yams

extension ConfigurationLoader {
    /// With `upstream.path_case: unknown`, a route whose own spelling an earlier route matches ignoring case (`/docs/*`
    /// before `/Docs/Internal/*`) is refused on every request (`ambiguous_path`): said at load, with the way out.
    static func warnOfRoutesTheirCaseRefuses(_ configuration: GatewayConfiguration, routes node: Node?, _ r: inout YAMLReader) {
        guard configuration.upstreamPathCase == .unknown, configuration.mcp == nil else { return }
        let table = RouteTable(configuration.routes, pathCase: .unknown)
        for (index, route) in configuration.routes.enumerated() {
            // A path the route serves, written as it is: each `*` one segment.
            let pattern = route.path.description
            let sample = pattern.split(separator: "/", omittingEmptySubsequences: true).map { $0 == "*" ? "x" : String($0) }
            let path = "/" + sample.joined(separator: "/")
            guard case .ambiguous(let folded, _) = table.resolve(method: route.method ?? .get, path: Substring(path)) else { continue }
            r.warn(node, "routes[\(index)].path", "\(pattern) is refused on every request (400 ambiguous_path): the earlier route "
                   + "\(folded.path.description) matches it ignoring case; set upstream.path_case (sensitive or insensitive) to say how "
                   + "the upstream compares letter case")
        }
    }
}
