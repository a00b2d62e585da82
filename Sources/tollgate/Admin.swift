import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `tollgate admin …`: the operator's side, through the admin API of a running gateway.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke clients or payers, switch incidents on and off, see spend, refund flows (through the admin API).",
        subcommands: [Status.self, Revoke.self, Unrevoke.self, IncidentCommand.self, Spend.self, Limits.self, RefundCreate.self, RefundList.self,
                      RefundClose.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revocations and incidents in force.")
        @OptionGroup var connection: AdminConnection

        func run() async throws { try await connection.send(.GET, "/admin/status") }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a client (before any price) or a payer (before anything is reserved).")
        @OptionGroup var subject: AdminSubject
        @Option(help: "Why (recorded in the audit log).") var reason: String
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let (kind, value) = subject.kindAndValue
            try await connection.send(.POST, "/admin/revocations", body: ["kind": kind, "subject": value, "reason": reason])
        }
    }

    struct Unrevoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a revocation.")
        @OptionGroup var subject: AdminSubject
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let (kind, value) = subject.kindAndValue
            try await connection.send(.DELETE, "/admin/revocations/\(kind)/\(AdminConnection.encoded(value))")
        }
    }

    struct IncidentCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "incident", abstract: "Close paid routes (503, no offers, no settlements) or open them again.",
            subcommands: [On.self, Off.self])

        struct On: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Switch an incident on, for one route or every paid route.")
            @Option(help: "A route's resource id (default: every paid route).") var route: String?
            @Option(help: "Why (recorded in the audit log).") var reason: String
            @OptionGroup var connection: AdminConnection

            func run() async throws {
                try await connection.send(.POST, "/admin/incidents", body: ["route": route, "reason": reason])
            }
        }

        struct Off: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Switch an incident off.")
            @Option(help: "A route's resource id (default: the global switch).") var route: String?
            @OptionGroup var connection: AdminConnection

            func run() async throws {
                try await connection.send(.DELETE, "/admin/incidents" + (route.map { "/\(AdminConnection.encoded($0))" } ?? ""))
            }
        }
    }

    struct Spend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Settled payments of a client or a payer, per asset (atomic units).")
        @OptionGroup var subject: AdminSubject
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let (kind, value) = subject.kindAndValue
            try await connection.send(.GET, AdminConnection.path("/admin/spend", query: [kind: value]))
        }
    }

    struct Limits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The rate limits, spend caps and quotas in force; with --client or --payer, what it has used in each period.")
        @Option(help: "A client id.") var client: String?
        @Option(help: "A payer address (0x…).") var payer: String?
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await connection.send(.GET, AdminConnection.path("/admin/limits", query: ["client": client, "payer": payer]))
        }
    }
}

extension Admin {
    struct RefundCreate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refund",
            abstract: "Refund (part of) a paid flow: a payment becomes pending_payout, units spent from a package are credited back at once.")
        @Argument(help: "The flow's correlation id (tg_…, its Tollgate-Correlation-Id).") var correlationId: String
        @Option(help: "Atomic units of the paid asset (10000 = 0.01 USDC), or units for a package spend. Default: all that is left.")
        var amount: String?
        @Option(help: "Why (kept in the refund and the audit log).") var reason: String
        @Option(help: "The refund's Idempotency-Key (default: a new one, printed when the answer is lost): the same refund sent again with it is recorded once.")
        var idempotencyKey: String?
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let key = idempotencyKey ?? "cli-" + UUID().uuidString.lowercased()
            // An answer lost (a timeout, a 503) may hide a refund recorded: the same key sent again gets that one, never a second.
            try await connection.send(.POST, "/admin/refunds", body: ["correlationId": correlationId, "amount": amount, "reason": reason],
                                      headers: [("Idempotency-Key", key)],
                                      unanswered: "to be sure the refund is recorded once, send it again with --idempotency-key \(key)")
        }
    }

    struct RefundList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "refunds", abstract: "Refunds, newest first.")
        @Option(help: "pending_payout (or pending), paid or credited.") var state: String?
        @Option(help: "Only the refunds of this flow.") var correlationId: String?
        @Option(help: "At most this many (1–1000, default 100).") var limit: Int?
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            let query: KeyValuePairs<String, String?> = [
                "state": state.map { $0 == "pending" ? "pending_payout" : $0 }, "correlationId": correlationId, "limit": limit.map(String.init),
            ]
            try await connection.send(.GET, AdminConnection.path("/admin/refunds", query: query))
        }
    }

    struct RefundClose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refund-close", abstract: "Record the transaction that paid a pending_payout refund out (it becomes paid).")
        @Argument(help: "The refund id (rf_…).") var id: String
        @Option(help: "The payout transaction (0x and 64 hex digits).") var tx: String
        @Flag(help: "The transaction pays several refunds at once (without it, one that already closes another refund is refused).")
        var batch = false
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            struct Close: Encodable {
                var payoutTransaction: String
                var batch: Bool?
            }
            try await connection.send(.POST, "/admin/refunds/\(AdminConnection.encoded(id))/close",
                                      body: Close(payoutTransaction: tx, batch: batch ? true : nil))
        }
    }
}

/// `--client ID | --payer ADDRESS`, exactly one.
struct AdminSubject: ParsableArguments {
    @Option(help: "A client id.") var client: String?
    @Option(help: "A payer address (0x…).") var payer: String?

    func validate() throws {
        guard (client == nil) != (payer == nil) else { throw ValidationError("give exactly one of --client or --payer") }
    }

    var kindAndValue: (String, String) { client.map { ("client", $0) } ?? ("payer", payer ?? "") }
}

/// Where the admin API is and how to authenticate; prints the JSON answer, exits 1 on a non-2xx.
struct AdminConnection: ParsableArguments {
    @Option(help: "The admin API's base URL.") var url = "http://127.0.0.1:8405"
    @Option(help: "The environment variable that holds the admin token.") var tokenEnv = "TOLLGATE_ADMIN_TOKEN"
    @Option(help: "Who you are, recorded in the audit log as admin:<actor>.") var actor: String?

    /// Sends the request and prints the answer; `unanswered` is said when no answer, or a 5xx, leaves the outcome unknown.
    func send(_ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil, headers: [(String, String)] = [],
              unanswered: String? = nil) async throws {
        guard let token = ProcessInfo.processInfo.environment[tokenEnv], !token.isEmpty else {
            FileHandle.standardError.write(Data("the environment variable \(tokenEnv) (the admin token) is not set\n".utf8))
            throw ExitCode(2)
        }
        var request = HTTPClientRequest(url: url.trimmingSuffix("/") + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let actor { request.headers.add(name: "X-Admin-Actor", value: actor) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            // Optional values of a dictionary encode as null (`route: null` is the global incident switch); a struct's nil
            // fields are left out.
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let response: HTTPClientResponse
        let text: String
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
            text = String(buffer: try await response.body.collect(upTo: 4 * 1024 * 1024))
        } catch {
            FileHandle.standardError.write(Data("cannot reach the admin API at \(url): \(error)\n".utf8))
            if let unanswered { FileHandle.standardError.write(Data("\(unanswered)\n".utf8)) }
            throw ExitCode(1)
        }
        guard (200..<300).contains(response.status.code) else {
            FileHandle.standardError.write(Data("admin API answered \(response.status.code) \(response.status.reasonPhrase): \(text)\n".utf8))
            if let unanswered, response.status.code >= 500 { FileHandle.standardError.write(Data("\(unanswered)\n".utf8)) }
            throw ExitCode(1)
        }
        print(text)
    }

    /// `path`, then `?name=value&…` for each value that is not nil, percent-encoded; `path` alone when all are nil.
    static func path(_ path: String, query: KeyValuePairs<String, String?>) -> String {
        let items = query.compactMap { name, value in value.map { "\(name)=\(encoded($0))" } }
        return items.isEmpty ? path : path + "?" + items.joined(separator: "&")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (for a path segment or a query value).
    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
