//! Self-test of `tests_e2e::harness` against a real `nats-server` and real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

/// Inside `mod harness` so that `cargo nextest run -p tests-e2e harness` selects them.
mod harness {
    use std::net::{SocketAddr, TcpStream};
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    use async_nats::jetstream;
    use tests_e2e::harness::{
        NatsServer, ServiceProcess, ServiceSpec, free_port, init_test_logging, recv_line,
    };
    use tests_e2e::log;

    const LINE_TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_jetstream_data_survives_stop_and_restart() -> anyhow::Result<()> {
        init_test_logging();
        let mut nats = NatsServer::start().await?;
        assert!(nats.is_running());
        let port = nats.port();
        assert_eq!(nats.url(), format!("nats://127.0.0.1:{port}"));

        let js = jetstream::new(nats.client().await?);
        js.create_stream(jetstream::stream::Config {
            name: "SELFTEST".into(),
            subjects: vec!["selftest.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
        let ack = js
            .publish("selftest.hello", "payload-1".into())
            .await?
            .await?;
        assert_eq!(ack.stream, "SELFTEST");
        let seq = ack.sequence;
        drop(js);

        nats.stop().await?;
        assert!(!nats.is_running());
        let log = nats.read_log();
        assert!(
            log.contains("JetStream Shutdown") && log.contains("Server Exiting"),
            "stop() was not a graceful shutdown; log: {log}"
        );
        let refused = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        );
        assert!(
            refused.is_err(),
            "TCP connect to a stopped nats-server succeeded"
        );
        let connect = tokio::time::timeout(
            Duration::from_secs(3),
            async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(1))
                .connect(nats.url()),
        )
        .await;
        assert!(
            !matches!(connect, Ok(Ok(_))),
            "async-nats connected to a stopped server"
        );

        nats.restart().await?;
        assert!(nats.is_running());
        assert_eq!(nats.port(), port, "restart must keep the port");
        let js = jetstream::new(nats.client().await?);
        let mut stream = js.get_stream("SELFTEST").await?;
        assert_eq!(stream.info().await?.state.messages, 1);
        let msg = stream.get_raw_message(seq).await?;
        assert_eq!(msg.subject.as_str(), "selftest.hello");
        assert_eq!(&msg.payload[..], b"payload-1");

        let log = nats.read_log();
        assert!(log.contains("Server is ready"), "log: {log}");
        assert!(log.contains("==== e2e harness"), "restart marker missing");
        assert!(
            nats.log_path()
                .starts_with(nats.store_dir().parent().unwrap())
        );

        nats.kill();
        assert!(!nats.is_running());
        Ok(())
    }

    #[tokio::test]
    async fn service_stdout_lines_then_kill9() -> anyhow::Result<()> {
        init_test_logging();
        let spec =
            ServiceSpec::new("sh-echo", "/bin/sh").args(["-c", "echo hello; echo world; sleep 30"]);
        let (mut svc, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await?;
        assert!(svc.is_running());
        assert_eq!(recv_line(&mut lines, LINE_TIMEOUT).await?, "hello");
        assert_eq!(recv_line(&mut lines, LINE_TIMEOUT).await?, "world");

        let started = Instant::now();
        svc.kill9();
        assert!(!svc.is_running());
        // `sleep 30` (a child of sh) must be gone too, or it would hold stdout open.
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            svc.read_log().contains("hello\nworld\n"),
            "log: {}",
            svc.read_log()
        );
        Ok(())
    }

    #[tokio::test]
    async fn service_kill9_takes_descendants() -> anyhow::Result<()> {
        init_test_logging();
        let spec = ServiceSpec::new("sh-tree", "/bin/sh").args(["-c", "sleep 30 & echo $!; wait"]);
        let (mut svc, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await?;
        let grandchild: u32 = recv_line(&mut lines, LINE_TIMEOUT).await?.parse()?;
        assert!(process_alive(grandchild));
        svc.kill9();
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_alive(grandchild) {
            assert!(
                Instant::now() < deadline,
                "grandchild {grandchild} survived kill9"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn service_terminate_returns_exit_status_and_restart_reuses_channel() -> anyhow::Result<()>
    {
        init_test_logging();
        let script = r#"trap 'echo bye; exit 3' TERM; echo "up $$"; while :; do sleep 0.1; done"#;
        let spec = ServiceSpec::new("sh-term", "/bin/sh").args(["-c", script]);
        let (mut svc, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await?;
        let first = recv_line(&mut lines, LINE_TIMEOUT).await?;
        assert_eq!(first, format!("up {}", svc.pid()));

        let status = svc.terminate().await?;
        assert_eq!(status.code(), Some(3), "status {status}");
        assert!(!svc.is_running());
        assert_eq!(recv_line(&mut lines, LINE_TIMEOUT).await?, "bye");

        svc.restart().await?;
        assert!(svc.is_running());
        let second = recv_line(&mut lines, LINE_TIMEOUT).await?;
        assert_eq!(second, format!("up {}", svc.pid()));
        assert_ne!(first, second);
        assert!(svc.terminate().await?.code() == Some(3));
        assert!(svc.terminate().await.is_err(), "terminate twice must fail");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn service_start_waits_for_grpc_health_serving() -> anyhow::Result<()> {
        init_test_logging();
        // An in-process health server stands in for a service's gRPC port; the
        // spawned process is a placeholder. It reports NOT_SERVING for a while.
        let port = free_port();
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve(SocketAddr::from(([127, 0, 0, 1], port))),
        );
        let flip_after = Duration::from_millis(700);
        tokio::spawn(async move {
            tokio::time::sleep(flip_after).await;
            reporter
                .set_service_status("", tonic_health::ServingStatus::Serving)
                .await;
        });

        let started = Instant::now();
        let spec = ServiceSpec::new("sh-grpc", "/bin/sh")
            .args(["-c", "sleep 30"])
            .grpc_port(port);
        let mut svc = ServiceProcess::start(spec).await?;
        log!("healthy after {:?}", started.elapsed());
        assert!(started.elapsed() >= flip_after, "returned before SERVING");
        assert!(svc.is_running());

        let status = svc.terminate().await?;
        assert_eq!(status.signal(), Some(15), "status {status}");
        svc.restart().await?;
        assert!(svc.is_running());
        Ok(())
    }

    #[tokio::test]
    async fn service_start_fails_with_log_tail_when_process_exits() {
        init_test_logging();
        let spec = ServiceSpec::new("sh-dies", "/bin/sh")
            .args(["-c", "echo boom-on-stderr >&2; exit 7"])
            .grpc_port(free_port());
        let err = ServiceProcess::start(spec).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("boom-on-stderr"), "{msg}");
        assert!(msg.contains("exit status: 7"), "{msg}");
    }

    fn process_alive(pid: u32) -> bool {
        // A zombie (state Z) is dead for our purposes: it only waits to be reaped.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .is_some_and(|state| state != "Z"),
            Err(_) => false,
        }
    }
}
