import HTTPTypes
import Hummingbird

/// Answers, in the API's JSON, what no route handles: `405` with `Allow` when the path exists for other
/// methods, `404` otherwise (Hummingbird's own answer to both is an empty 404). Added after every route,
/// so it knows them all; it sits behind the bearer check like everything else.
struct AdminUnmatchedMiddleware<Context: RequestContext>: RouterMiddleware {
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: RouterPath
    }

    let routes: [Route]

    init(routes: [Router<Context>.RouteDescription]) {
        self.routes = routes.map { Route(method: $0.method, path: $0.path) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
            let allowed = Set(routes.filter { Self.matches($0.path, segments) }.map(\.method.rawValue)).sorted()
            guard !allowed.isEmpty else { return AdminProblem.notFound("no admin route \(request.uri.path.prefix(200))").response }
            var response = AdminProblem(.methodNotAllowed, "method_not_allowed", "\(request.uri.path.prefix(200)) answers \(allowed.joined(separator: ", "))")
                .response
            response.headers[.allow] = allowed.joined(separator: ", ")
            if request.method == .head { response.body = ResponseBody() }
            return response
        }
    }

    static func matches(_ path: RouterPath, _ segments: [Substring]) -> Bool {
        path.components.count == segments.count && zip(path.components, segments).allSatisfy { $0 ~= $1 }
    }
}
