//! The command line: `--help` documents every flag with its environment
//! variable and the service's own default addresses; bad settings are
//! refused at start, naming the flag.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use clap::Parser;
use social_poller::config::{self, SocialArgs};

#[derive(Parser)]
#[command(name = "social-poller")]
struct Cli {
    #[command(flatten)]
    args: SocialArgs,
}

#[test]
fn help_names_every_environment_variable_and_the_default_addresses() {
    let help = social_poller::SPEC
        .command::<Cli>()
        .render_long_help()
        .to_string();
    for env in [
        config::ENV_IDENTITY_URL,
        config::ENV_SECRETS_FILE,
        config::ENV_VK_BASE_URL,
        config::ENV_VK_VERSION,
        config::ENV_HTTP_TIMEOUT,
        config::ENV_VK_RPS,
        config::ENV_POLL_DEADLINE,
        config::ENV_POLL_INTERVAL,
        config::ENV_POLL_JITTER,
        config::ENV_RECENT_POSTS,
        config::ENV_CALLBACK_ADDR,
        config::ENV_CREDIT_UNLINKED,
        kit::bootstrap::ENV_NATS_URL,
    ] {
        assert!(help.contains(&format!("env: {env}")), "{env} in\n{help}");
    }
    assert!(help.contains("127.0.0.1:50055") && help.contains("127.0.0.1:9105"));
    assert!(help.contains("https://api.vk.com/method/"));
}

#[test]
fn bad_settings_name_their_flag() {
    let parse = |extra: &[&str]| {
        let mut argv = vec!["social-poller"];
        argv.extend(extra);
        let cli: Cli = social_poller::SPEC.parse_from(argv);
        cli.args.validate().err().map(|e| e.to_string())
    };
    assert_eq!(parse(&[]), None);
    for (flag, value) in [
        ("--poll-interval-secs", "10"),
        ("--poll-jitter", "0.9"),
        ("--recent-posts", "101"),
        ("--http-timeout-secs", "0"),
        ("--vk-requests-per-second", "0"),
        ("--poll-deadline-secs", "10"),
        ("--vk-base-url", "ftp://vk"),
        ("--vk-base-url", "http://api.vk.com/method/"),
    ] {
        let error = parse(&[flag, value]).unwrap();
        assert!(
            error.contains(flag.trim_start_matches('-')),
            "{flag}: {error}"
        );
    }
}
