import HTTPTypes

/// The routes in configuration order; the first match wins.
public struct RouteTable: Sendable {
    public var routes: [Route] {
        didSet { casedLiterals = routes.map(\.path.hasCasedLiterals) }
    }
    /// How the upstream compares letter case in paths, and so how the routes match them.
    public var pathCase: PathCase
    /// Per route, whether it has a literal letter that is not ASCII lowercase: any path may then fold onto it.
    private var casedLiterals: [Bool]

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
        casedLiterals = routes.map(\.path.hasCasedLiterals)
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
            // Only a letter that is not ASCII lowercase, on either side, can make case matter: a path without one folds
            // onto a route only through the route's own.
            let pathFolds = path.utf8.contains { $0 >= 0x80 || $0 == UInt8(ascii: "%") || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
            let folded = routes.indices[..<(exact ?? routes.endIndex)].first { index in
                (pathFolds || casedLiterals[index]) && routes[index].matches(method: method, path: path, ignoringCase: true)
            }
            if let folded { return .ambiguous(ignoringCase: routes[folded], exactly: exact.map { routes[$0] }) }
            return exact.map { .route(routes[$0]) } ?? .none
        }
    }
}
