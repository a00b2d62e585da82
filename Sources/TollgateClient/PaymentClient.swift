import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// Pays x402 402s for an agent, within a budget it cannot exceed, never twice for one purchase.
///
/// A request goes out without payment; a 402's terms are read (v2 header or v1 body), the cheapest offer the
/// budget allows is chosen, the caller may confirm, and the ledger checks every limit and records the signed
/// authorization in one transaction before anything is sent. The paid request is then sent, and re-sent with the
/// same authorization (the same `payment-identifier`) after a timeout, a dropped connection or a 502/503/504/429,
/// never with a new one; an authorization left unanswered by a crash is found by the next run of the same request
/// and sent again instead of signing another.
public struct PaymentClient: Sendable {
    /// A request to make (and pay for).
    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?

        public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    /// A response, whole.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
    }

    /// What the terms are and what the budget says of them, before anything is signed (`--dry-run`, the prompt).
    public struct Quote: Sendable {
        public var terms: PaymentTerms
        /// The offer that would be paid; nil when the budget refuses every offer (`refusal` says why).
        public var choice: PaymentChoice?
        public var refusal: ClientError?
        /// The windowed limits that apply and what was already spent in each.
        public var standing: [BudgetStanding]
    }

    /// How a request ended.
    public struct Outcome: Sendable {
        public var response: Response
        /// The 402 that asked for payment, when there was one.
        public var terms: PaymentTerms?
        /// The purchase as the ledger now has it, when one was paid (or re-sent).
        public var purchase: Purchase?
        /// The decoded receipt (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`).
        public var receipt: X402.SettleResponse?
        /// True when an authorization signed earlier for the same request was sent instead of a new one.
        public var resumed: Bool
    }

    public let http: HTTPClient
    public let payer: ExactEVMPayer
    public let ledger: PaymentLedger
    public var budget: Budget
    /// Sends of one paid request at most, the first included.
    public var attempts: Int = 4
    public var timeout: Duration = .seconds(30)
    public var maxResponseBytes: Int = 64 << 20
    public var logger: Logger

    public init(http: HTTPClient, payer: ExactEVMPayer, ledger: PaymentLedger, budget: Budget, logger: Logger) {
        self.http = http
        self.payer = payer
        self.ledger = ledger
        self.budget = budget
        self.logger = logger
    }

    /// Makes `request`, paying a 402 within the budget after `confirm` (given the quote) agrees.
    public func fetch(_ request: Request, confirm: @Sendable (Quote) async -> Bool = { _ in true }) async throws -> Outcome {
        let identity = try Self.identity(request)
        if let pending = try ledger.reusable(requestKey: identity.key, nowMillis: Self.nowMillis()) {
            logger.notice("re-sending the authorization signed earlier for this request", metadata: ["tollgate.purchase": "\(pending.id)"])
            return try await deliver(pending, request: request, terms: nil, resumed: true)
        }
        let first = try await send(request)
        guard first.status == 402 else { return Outcome(response: first, resumed: false) }
        guard let terms = PaymentTerms.read(headerValue: first.headers.first(name: X402.paymentRequiredHeader), body: first.body) else {
            throw ClientError(.serverRefused, "the server answered 402 without x402 terms")
        }
        let quote = try self.quote(terms, for: identity)
        guard let choice = quote.choice else { throw quote.refusal ?? ClientError(.noPayableOffer, "nothing to pay") }
        guard await confirm(quote) else { throw ClientError(.declined, "payment of \(choice.price) to \(choice.option.payTo) declined") }
        let signer = ProofSigner(payer: payer)
        let authorization = try ledger.authorize(choice, for: identity, budget: budget, nowMillis: Self.nowMillis()) { id in
            try signer.header(choice, terms: terms, purchaseId: id, nowSeconds: Self.nowMillis() / 1000).signed(payer: payer, version: terms.version)
        }
        var outcome: Outcome
        switch authorization {
        case .signed(let purchase): outcome = try await deliver(purchase, request: request, terms: terms, resumed: false)
        case .pending(let purchase): outcome = try await deliver(purchase, request: request, terms: terms, resumed: true)
        }
        outcome.terms = terms
        return outcome
    }

    /// What a 402 asks and what the budget says of it; nothing is signed or recorded.
    public func quote(_ request: Request) async throws -> (Response, Quote?) {
        let identity = try Self.identity(request)
        let first = try await send(request)
        guard first.status == 402,
              let terms = PaymentTerms.read(headerValue: first.headers.first(name: X402.paymentRequiredHeader), body: first.body)
        else { return (first, nil) }
        return (first, try quote(terms, for: identity))
    }

    func quote(_ terms: PaymentTerms, for identity: PaymentLedger.Request) throws -> Quote {
        let now = Self.nowMillis()
        do {
            let choice = try budget.choose(terms, host: identity.host, tool: identity.tool).first!
            let standing = try BudgetStanding.of(budget, choice: choice, request: identity, ledger: ledger, nowMillis: now)
            if let breach = standing.first(where: { $0.limit < $0.spent + choice.units }) {
                return Quote(terms: terms, choice: nil, refusal: breach.refusal(choice), standing: standing)
            }
            return Quote(terms: terms, choice: choice, refusal: nil, standing: standing)
        } catch let refusal as ClientError {
            return Quote(terms: terms, choice: nil, refusal: refusal, standing: [])
        }
    }

    /// Sends the purchase's proof until an answer comes, re-sending the same proof; records how it ended.
    func deliver(_ purchase: Purchase, request: Request, terms: PaymentTerms?, resumed: Bool) async throws -> Outcome {
        var paid = request
        paid.headers.append((purchase.proofName, purchase.proof))
        return try await resend(purchase, exchange: "the paid request", rerun: "the next run of this request", send: { try await send(paid) },
                                retry: { [429, 502, 503, 504].contains($0.status) ? ("HTTP \($0.status)", $0.headers.first(name: "Retry-After")) : nil },
                                record: { try record(purchase, response: $0, terms: terms, resumed: resumed) })
    }

    /// The re-send loop of every door (HTTP, MCP): sends the purchase's one authorization until an answer that `retry`
    /// does not turn away (it names the problem and the answer's `Retry-After`), at most `attempts` times and only while
    /// the authorization stays valid long enough to settle, backing off between sends; `record` keeps the answer. With no
    /// answer at all the purchase ends `unknown` (pending: `rerun` sends it again) and the error is `unreachable`.
    func resend<Answer, Kept>(_ purchase: Purchase, exchange: String, rerun: String, send: () async throws -> Answer,
                              retry: (Answer) -> (problem: String, retryAfter: String?)?,
                              record: (Answer) throws -> Kept) async throws -> Kept {
        var lastProblem = "no answer"
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 {
                guard purchase.validBefore > Self.nowMillis() / 1000 + Purchase.resendMarginSeconds else { break }
            }
            try ledger.sending(purchase.id, nowMillis: Self.nowMillis())
            let answer: Answer
            do {
                answer = try await send()
            } catch {
                lastProblem = "\(error)"
                if attempt + 1 < attempts {
                    logger.warning("\(exchange) got no answer; re-sending the same authorization",
                                   metadata: ["tollgate.purchase": "\(purchase.id)", "tollgate.error": "\(lastProblem)"])
                    try await Task.sleep(for: Self.backoff(attempt, retryAfter: nil))
                }
                continue
            }
            if let turnedAway = retry(answer) {
                lastProblem = turnedAway.problem
                if attempt + 1 < attempts { try await Task.sleep(for: Self.backoff(attempt, retryAfter: turnedAway.retryAfter)) }
                continue
            }
            return try record(answer)
        }
        try ledger.finish(purchase.id, .unknown, status: nil, correlationId: nil, transaction: nil, receipt: nil,
                          reason: lastProblem, nowMillis: Self.nowMillis())
        throw ClientError(.unreachable, "no answer to \(exchange) after \(try ledger.purchase(purchase.id)?.attempts ?? attempts) sends of the same authorization (\(lastProblem)); "
                                        + "purchase \(purchase.id) is pending: \(rerun) re-sends it (tollgate wallet pending)")
    }

    /// Records the answer: 2xx delivered; a successful receipt without delivery settled (a refund may follow); a 402
    /// a refusal (`refused`, or `unknown` when the proof had been sent before: the first send may have been taken);
    /// anything else unknown, so the same proof is what a later run sends.
    func record(_ purchase: Purchase, response: Response, terms: PaymentTerms?, resumed: Bool) throws -> Outcome {
        let receiptHeader = response.headers.first(name: X402.paymentResponseHeader) ?? response.headers.first(name: "X-PAYMENT-RESPONSE")
        // Read strictly: a receipt with a repeated member reads as none (as a server that sends none), never one way here
        // and another in a log.
        let receipt = receiptHeader.flatMap { HeaderCodec.read(X402.SettleResponse.self, header: $0) }
        let correlationId = response.headers.first(name: "Tollgate-Correlation-Id")
        let ending: PaymentLedger.Ending
        var reason: String?
        if (200..<300).contains(response.status) {
            ending = .delivered
        } else if receipt?.success == true {
            ending = .settledUndelivered
            reason = "settled, not delivered: HTTP \(response.status)"
                + (response.headers.first(name: "Tollgate-Refund").map { ", refund \($0)" } ?? "")
        } else if response.status == 402 {
            ending = .refusal
            reason = PaymentTerms.read(headerValue: response.headers.first(name: X402.paymentRequiredHeader), body: response.body)?.error ?? "HTTP 402"
        } else {
            ending = .unknown
            reason = "HTTP \(response.status)"
        }
        try ledger.finish(purchase.id, ending, status: response.status, correlationId: correlationId,
                          transaction: receipt.map(\.transaction).flatMap { $0.isEmpty ? nil : $0 },
                          receipt: receiptHeader.flatMap(HeaderCodec.base64Bytes).map { String(decoding: $0, as: UTF8.self) },
                          reason: reason, nowMillis: Self.nowMillis())
        return Outcome(response: response, terms: terms, purchase: try ledger.purchase(purchase.id), receipt: receipt, resumed: resumed)
    }

    /// One HTTP exchange, the body read whole (up to `maxResponseBytes`); no answer is `unreachable`.
    func send(_ request: Request) async throws -> Response {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method.uppercased())
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await http.execute(outgoing, timeout: .seconds(Int64(timeout.components.seconds)), logger: logger)
            // Terms are small: a 402 body larger than 1 MiB is not read whole (a hostile server's memory bomb).
            let body = try await response.body.collect(upTo: response.status.code == 402 ? min(maxResponseBytes, 1 << 20) : maxResponseBytes)
            return Response(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
        } catch let error as CancellationError {
            throw error
        } catch let error as HTTPClientError where Self.isInvalidRequest(error) {
            throw ClientError(.invalidRequest, "\(request.method) \(request.url) cannot be sent: \(error)")
        } catch {
            throw ClientError(.unreachable, "\(request.method) \(request.url) got no answer: \(error)")
        }
    }

    /// What identifies the purchase of `request`: method, URL and body, hashed.
    static func identity(_ request: Request) throws(ClientError) -> PaymentLedger.Request {
        let host = try httpHost(request.url, what: "URL")
        var hash = SHA256()
        hash.update(data: Array(request.method.uppercased().utf8) + [0] + Array(request.url.utf8) + [0])
        hash.update(data: request.body ?? [])
        // The caller's headers too (an API key, a customer id): a request made for someone else is another purchase.
        hash.update(data: Self.headerBytes(request.headers))
        return PaymentLedger.Request(method: request.method.uppercased(), url: request.url, host: host, tool: nil,
                                     key: HexString.encode(hash.finalize()))
    }

    /// The normalised host of an http(s) URL, the key budgets are kept under; anything else is `invalidRequest`.
    static func httpHost(_ url: String, what: String) throws(ClientError) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parsed.host, !host.isEmpty
        else {
            throw ClientError(.invalidRequest, "not an http(s) \(what): \(url)")
        }
        return Budget.normalized(host)
    }

    /// What AsyncHTTPClient refuses before sending anything: the request, not the server, is at fault.
    static func isInvalidRequest(_ error: HTTPClientError) -> Bool {
        if [.invalidURL, .emptyHost, .emptyScheme, .incompatibleHeaders].contains(error) { return true }
        let text = String(describing: error)
        return text.contains("unsupportedScheme") || text.contains("invalidHeaderField")
    }

    /// Headers in one canonical spelling (names lowercased, sorted), for a purchase's identity.
    static func headerBytes(_ headers: [(String, String)]) -> [UInt8] {
        let canonical: [(name: String, value: String)] = headers.map { ($0.0.lowercased(), $0.1) }
        var bytes: [UInt8] = []
        for header in canonical.sorted(by: { ($0.name, $0.value) < ($1.name, $1.value) }) {
            bytes.append(0)
            bytes += Array(header.name.utf8)
            bytes.append(0)
            bytes += Array(header.value.utf8)
        }
        return bytes
    }

    /// 0.5 s, 1 s, 2 s … or the server's `Retry-After` (seconds), at most 10 s.
    static func backoff(_ attempt: Int, retryAfter: String?) -> Duration {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return .milliseconds(Int64(min(seconds, 10) * 1000))
        }
        return .milliseconds(min(500 << attempt, 10_000))
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// One windowed limit that applies to a payment, and what was already spent against it.
public struct BudgetStanding: Sendable, Hashable {
    public var scope: SpendScope
    public var window: String
    public var limit: MicroUnits
    public var spent: MicroUnits

    func refusal(_ choice: PaymentChoice) -> ClientError {
        ClientError(.budgetExceeded, "\(window) (\(scope)): \(spent) spent, this payment \(choice.units), the limit is \(limit)")
    }

    static func of(_ budget: Budget, choice: PaymentChoice, request: PaymentLedger.Request, ledger: PaymentLedger,
                   nowMillis: Int64) throws -> [BudgetStanding] {
        var standing: [BudgetStanding] = []
        for (scope, limits) in budget.scopes(host: request.host, payee: choice.option.payTo, tool: request.tool) {
            for window in limits.windows {
                standing.append(BudgetStanding(scope: scope, window: window.name, limit: window.limit,
                                               spent: try ledger.spent(scope, seconds: window.seconds, nowMillis: nowMillis)))
            }
        }
        return standing
    }
}
