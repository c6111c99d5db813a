// swift-tools-version: 6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "OutlineStream",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "OutlineProjections", targets: ["OutlineProjections"]),
        .executable(name: "outline-admin", targets: ["outline-admin"]),
        .executable(name: "outline-bench", targets: ["outline-bench"]),
        .executable(name: "simulated-provider", targets: ["simulated-provider"]),
        .executable(name: "outline-server", targets: ["outline-server"]),
        .executable(name: "outline-load", targets: ["outline-load"]),
        .executable(name: "outline-floor", targets: ["outline-floor"]),
        .executable(name: "outline-torture", targets: ["outline-torture"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP only (protobuf or JSON): the gRPC exporter's dependencies would double the build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // C libraries, kept at the edge: only the wrapping Swift files import these.
        .systemLibrary(
            name: "CLibPQ",
            path: "Sources/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CLZ4",
            path: "Sources/CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .target(
            name: "PostgresClient",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming
        ),
        .target(name: "LZ4", dependencies: ["CLZ4"], swiftSettings: upcoming),
        // glibc's mallopt and malloc_trim (the server hands free heap back; see HeapTrimmer).
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CEpoll", path: "Sources/CEpoll"),
        .target(name: "OutlineJSON", swiftSettings: upcoming),
        .target(name: "OutlineBasics", swiftSettings: upcoming),
        .systemLibrary(
            name: "CCurl",
            path: "Sources/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "ProviderHTTP",
            dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming
        ),
        .target(
            name: "OpenAIResponses",
            dependencies: ["OutlineJSON", "OutlineBasics", "ProviderHTTP", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: upcoming
        ),
        .target(
            name: "OutlineSchema",
            path: "Schema",
            resources: [.copy("migrations")],
            swiftSettings: upcoming
        ),
        .target(
            name: "EventLog",
            dependencies: [
                "PostgresClient", "LZ4", "OutlineSchema", "OutlineJSON", "OutlineBasics",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "SimulatedProvider",
            dependencies: [
                "OpenAIResponses", "OutlineJSON", "OutlineBasics", "ProviderHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "simulated-provider",
            dependencies: ["SimulatedProvider", "OpenAIResponses", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Hummingbird", package: "hummingbird")],
            path: "Tools/simulated-provider",
            swiftSettings: upcoming
        ),
        .target(
            name: "OutlineAuth",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: upcoming
        ),
        .target(
            name: "OutlineServer",
            dependencies: [
                "OutlineAuth", "EventLog", "OutlineProjections", "PostgresClient", "SessionRunner", "OpenAIResponses", "OutlineJSON", "OutlineBasics", "CMalloc",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "outline-server",
            dependencies: [
                "OutlineServer", "EventLog", "OutlineSchema", "PostgresClient", "OpenAIResponses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/outline-server",
            swiftSettings: upcoming
        ),
        .target(
            name: "SessionRunner",
            dependencies: ["EventLog", "OpenAIResponses", "OutlineJSON", "OutlineBasics", "PostgresClient", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: upcoming
        ),
        .target(
            name: "OutlineProjections",
            dependencies: ["EventLog", "PostgresClient", "OutlineJSON", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Tracing", package: "swift-distributed-tracing")],
            path: "Projections",
            swiftSettings: upcoming
        ),
        .target(
            name: "OutlineAdminCommands",
            dependencies: [
                "EventLog", "OutlineProjections", "PostgresClient", "OutlineAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/OutlineAdminCommands",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "outline-admin",
            dependencies: ["OutlineAdminCommands"],
            path: "Tools/outline-admin",
            swiftSettings: upcoming
        ),
        .target(name: "BenchmarkSupport", path: "Tools/BenchmarkSupport", swiftSettings: upcoming),
        .executableTarget(
            name: "outline-bench",
            dependencies: [
                "BenchmarkSupport",
                "EventLog", "OutlineProjections", "PostgresClient", "OpenAIResponses", "SessionRunner", "SimulatedProvider",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/outline-bench",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "outline-load",
            dependencies: [
                "BenchmarkSupport",
                "EventLog", "OutlineProjections", "PostgresClient", "OpenAIResponses", "ProviderHTTP", "SimulatedProvider", "OutlineAuth", "OutlineSchema", "CEpoll",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/outline-load",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "outline-floor",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HTTPTypes", package: "swift-http-types")],
            path: "Tools/outline-floor",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "outline-torture",
            dependencies: [
                "PostgresClient", "OpenAIResponses", "ProviderHTTP", "OutlineAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/outline-torture",
            swiftSettings: upcoming
        ),
        .target(
            name: "TestSupport",
            dependencies: ["PostgresClient", "EventLog", "OutlineSchema", "OutlineJSON", "OpenAIResponses", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus")],
            path: "Tests/TestSupport",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "PostgresClientTests",
            dependencies: ["PostgresClient", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "EventLogTests",
            dependencies: ["EventLog", "LZ4", "PostgresClient", "TestSupport", "OutlineJSON", "OutlineProjections", "OutlineBasics", "SimulatedProvider",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ProviderHTTPTests",
            dependencies: ["ProviderHTTP", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "OpenAIResponsesTests",
            dependencies: ["OpenAIResponses", "OutlineJSON", "ProviderHTTP", "TestSupport", "SimulatedProvider"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "OutlineServerTests",
            dependencies: [
                "OutlineServer", "EventLog", "PostgresClient", "ProviderHTTP", "TestSupport", "SimulatedProvider", "OpenAIResponses", "OutlineProjections", "OutlineJSON",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "SimulatedProviderTests",
            dependencies: ["SimulatedProvider", "OpenAIResponses", "ProviderHTTP", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "SessionRunnerTests",
            dependencies: ["SessionRunner", "SimulatedProvider", "ProviderHTTP", "OutlineProjections", "PostgresClient", "EventLog", "OpenAIResponses", "OutlineJSON", "TestSupport"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ProjectionTests",
            dependencies: ["OutlineProjections", "EventLog", "PostgresClient", "TestSupport", "OutlineJSON"],
            swiftSettings: upcoming
        ),
    ]
)
