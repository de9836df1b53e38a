//! A Deployment and its rolling update, with the rules of the Kubernetes
//! deployment controller: at most `replicas + max_surge` pods that are not
//! terminating, at least `replicas - max_unavailable` available ones, and a
//! pod is available once ready for `min_ready`.

use std::mem;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::task::JoinSet;

use crate::pod::{Pod, PodExit, PodIps, PodTemplate, Termination};
use crate::proxy::Endpoints;
use crate::timeline::{PodEventKind, Timeline};

/// Longest a new pod may take to pass its readiness probe.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Strategy {
    pub max_surge: usize,
    pub max_unavailable: usize,
    pub min_ready: Duration,
    /// EndpointSlice and kube-proxy lag: how long a terminating pod's
    /// endpoint still gets new connections.
    pub propagation_delay: Duration,
    pub termination: Termination,
}

/// What a deployment's pods share with the drill around them.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub timeline: Timeline,
    pub http: reqwest::Client,
    pub ips: PodIps,
    pub database_url: String,
}

#[derive(Debug)]
pub struct Deployment {
    pub name: String,
    template: PodTemplate,
    replicas: usize,
    strategy: Strategy,
    /// The Service's endpoints, for deployments behind one.
    endpoints: Option<Endpoints>,
    cluster: Cluster,
    pods: Vec<Pod>,
    started: u32,
    exits: Arc<Mutex<Vec<PodExit>>>,
}

impl Deployment {
    pub fn new(
        name: &str,
        template: PodTemplate,
        replicas: usize,
        strategy: Strategy,
        endpoints: Option<Endpoints>,
        cluster: Cluster,
    ) -> Self {
        Self {
            name: name.to_owned(),
            template,
            replicas,
            strategy,
            endpoints,
            cluster,
            pods: Vec::new(),
            started: 0,
            exits: Arc::default(),
        }
    }

    /// A new pod template, as a Deployment's image changes in an upgrade:
    /// the next rollout starts its pods from `binary`.
    pub fn set_binary(&mut self, binary: PathBuf) {
        self.template.binary = binary;
    }

    /// Creates the first replica set and waits until all of it is available.
    pub async fn create(&mut self) -> anyhow::Result<()> {
        let mut starting = JoinSet::new();
        for _ in 0..self.replicas {
            starting.spawn(self.start_pod()?);
        }
        while let Some(joined) = starting.join_next().await {
            self.pods.push(joined.context("pod start panicked")??);
        }
        Ok(())
    }

    /// One `kubectl rollout restart`: returns once every old pod has exited.
    pub async fn rollout(&mut self) -> anyhow::Result<()> {
        let began = Instant::now();
        let floor = self.replicas.saturating_sub(self.strategy.max_unavailable);
        let ceiling = self.replicas + self.strategy.max_surge;
        let mut old = mem::take(&mut self.pods);
        let mut new: Vec<Pod> = Vec::new();
        let mut starting = JoinSet::new();
        let mut terminating = JoinSet::new();
        loop {
            // Surge and scale down until neither can move; a scale-down can
            // make room for the next surge pod.
            let mut moved = true;
            while moved {
                moved = false;
                while new.len() + starting.len() < self.replicas
                    && old.len() + new.len() + starting.len() < ceiling
                {
                    starting.spawn(self.start_pod()?);
                    moved = true;
                }
                while !old.is_empty() && old.len() + new.len() > floor {
                    terminating.spawn(self.terminate(old.remove(0)));
                    moved = true;
                }
            }
            if old.is_empty() && new.len() == self.replicas {
                break;
            }
            match starting.join_next().await {
                Some(joined) => new.push(joined.context("pod start panicked")??),
                None => bail!(
                    "rollout of {} cannot progress: max_surge and max_unavailable are both 0",
                    self.name
                ),
            }
        }
        while let Some(joined) = terminating.join_next().await {
            joined.context("pod termination panicked")?;
        }
        self.pods = new;
        self.cluster
            .timeline
            .window(&self.name, began, Instant::now());
        Ok(())
    }

    /// Scales to zero: every pod is stopped the way a rollout stops one.
    pub async fn delete(&mut self) {
        let mut terminating = JoinSet::new();
        for pod in mem::take(&mut self.pods) {
            terminating.spawn(self.terminate(pod));
        }
        terminating.join_all().await;
    }

    pub fn exits(&self) -> Vec<PodExit> {
        self.exits.lock().unwrap().clone()
    }

    /// A future that starts one pod and resolves once it is available.
    fn start_pod(&mut self) -> anyhow::Result<impl Future<Output = anyhow::Result<Pod>> + use<>> {
        self.started += 1;
        let name = format!("{}-{}", self.name, self.started);
        let cluster = self.cluster.clone();
        let mut pod = Pod::start(
            &self.template,
            &name,
            cluster.ips.next(),
            &cluster.database_url,
        )?;
        cluster.timeline.pod_event(&name, PodEventKind::Started);
        let endpoints = self.endpoints.clone();
        let min_ready = self.strategy.min_ready;
        // The EndpointSlice controller adds a pod once it is ready;
        // `minReadySeconds` delays only the Deployment's count of it as
        // available, so the new pod serves for `min_ready` before the
        // controller stops an old one.
        Ok(async move {
            pod.wait_ready(&cluster.http, READY_TIMEOUT).await?;
            cluster.timeline.pod_event(&pod.name, PodEventKind::Ready);
            if let (Some(endpoints), Some(traffic)) = (endpoints, pod.traffic) {
                endpoints.add(traffic);
                cluster
                    .timeline
                    .pod_event(&pod.name, PodEventKind::EndpointAdded);
            }
            tokio::time::sleep(min_ready).await;
            Ok(pod)
        })
    }

    fn terminate(&self, pod: Pod) -> impl Future<Output = ()> + use<> {
        terminate(
            pod,
            self.strategy,
            self.endpoints.clone(),
            self.cluster.timeline.clone(),
            self.exits.clone(),
        )
    }
}

/// Marks the pod terminating; its endpoint goes after the propagation
/// delay while the kubelet runs preStop, SIGTERM and, if need be, SIGKILL.
async fn terminate(
    pod: Pod,
    strategy: Strategy,
    endpoints: Option<Endpoints>,
    timeline: Timeline,
    exits: Arc<Mutex<Vec<PodExit>>>,
) {
    let since = Instant::now();
    let name = pod.name.clone();
    let traffic = pod.traffic;
    timeline.pod_event(&name, PodEventKind::Terminating);
    let endpoint_removal = async {
        if let (Some(endpoints), Some(traffic)) = (endpoints, traffic) {
            tokio::time::sleep(strategy.propagation_delay).await;
            endpoints.remove(traffic);
            timeline.pod_event(&name, PodEventKind::EndpointRemoved);
        }
    };
    let (exit, ()) = tokio::join!(
        pod.terminate(since, strategy.termination, &timeline),
        endpoint_removal
    );
    exits.lock().unwrap().push(exit);
}
