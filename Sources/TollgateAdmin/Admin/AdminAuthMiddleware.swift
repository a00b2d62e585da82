import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

/// Refuses every request (matched route or not) that does not carry the admin token as a bearer token.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let credential: AdminCredential
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
              credential.accepts(header.dropFirst(7))
        else {
            logger.notice("admin request refused: missing or wrong token", metadata: ["tollgate.admin.path": "\(request.uri.path)"])
            var response = AdminProblem(.unauthorized, "unauthorized", "send Authorization: Bearer <admin token>").response
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}
