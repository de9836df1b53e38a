//! docker-compose.yml against the services' shutdown budget: compose sends
//! SIGTERM and then SIGKILL after stop_grace_period, with no preStop, so
//! each service's SHUTDOWN_GRACE_PERIOD must equal its stop_grace_period.

mod common;

use std::time::Duration;

use deploy_check::compose;
use testkit::repo_root;

#[test]
fn every_compose_service_fits_its_stop_grace_period() {
    let services = compose::services(&repo_root().join("docker-compose.yml")).unwrap();
    let names: Vec<_> = services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["api", "worker"], "the check must see both services");
    let problems: Vec<String> = services
        .iter()
        .flat_map(|s| {
            common::budget_problems(
                &format!("compose service {}", s.service),
                s.stop_grace_period,
                Duration::ZERO,
                &s.env,
            )
        })
        .collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn a_stop_grace_period_shorter_than_the_budget_is_caught() {
    let services = compose::services(&repo_root().join("docker-compose.yml")).unwrap();
    let api = services.iter().find(|s| s.service == "api").unwrap();
    let problems = common::budget_problems(
        "edited api",
        api.stop_grace_period - Duration::from_secs(5),
        Duration::ZERO,
        &api.env,
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
