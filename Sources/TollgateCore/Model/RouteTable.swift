import HTTPTypes

/// The routes in configuration order; the first match wins.
public struct RouteTable: Sendable {
    public var routes: [Route] {
        didSet { literalsFold = routes.contains { $0.path.hasCasedLiterals } }
    }
    /// How the upstream compares letter case in paths, and so how the routes match them.
    public var pathCase: PathCase
    /// Whether a route has a literal letter that is not ASCII lowercase: then any request path may fold onto it.
    private var literalsFold: Bool

    /// What a request's path resolves to.
    public enum Resolution: Sendable {
        /// The route that serves it.
        case route(Route)
        /// No route serves it.
        case none
        /// `PathCase.unknown`: the letter case alone decides the route; `ignoringCase` is the route that matches when
        /// case is ignored, `exactly` the one that matches as written (nil: none).
        case ambiguous(ignoringCase: Route, exactly: Route?)
    }

    public init(_ routes: [Route], pathCase: PathCase = .unknown) {
        self.routes = routes
        self.pathCase = pathCase
        literalsFold = routes.contains { $0.path.hasCasedLiterals }
    }

    /// The first route that serves `method` on `path` as `pathCase` compares it, ignoring the ambiguity `unknown`
    /// refuses (an MCP tool's name, which the server compares exactly).
    public func match(method: HTTPRequest.Method, path: Substring) -> Route? {
        routes.first { $0.matches(method: method, path: path, ignoringCase: pathCase == .insensitive) }
    }

    /// The route that serves `method` on `path`, or why none does.
    public func resolve(method: HTTPRequest.Method, path: Substring) -> Resolution {
        switch pathCase {
        case .sensitive, .insensitive:
            return match(method: method, path: path).map(Resolution.route) ?? .none
        case .unknown:
            let exact = routes.firstIndex { $0.matches(method: method, path: path) }
            // Only a letter that is not ASCII lowercase, on either side, can make case matter.
            if literalsFold || path.utf8.contains(where: { $0 >= 0x80 || $0 == UInt8(ascii: "%") || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }),
               let folded = routes[..<(exact ?? routes.endIndex)].firstIndex(where: { $0.matches(method: method, path: path, ignoringCase: true) }) {
                return .ambiguous(ignoringCase: routes[folded], exactly: exact.map { routes[$0] })
            }
            return exact.map { .route(routes[$0]) } ?? .none
        }
    }
}
