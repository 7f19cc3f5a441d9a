/* The pod sandbox's process on the local cluster's real node (containerd needs a sandbox image, and no registry
 * is reachable to pull registry.k8s.io/pause): it holds the pod's namespaces, reaps the zombies of processes
 * that end up as its children, and exits on SIGINT or SIGTERM. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop, child;
  memset(&stop, 0, sizeof stop);
  stop.sa_handler = quit;
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGTERM, &stop, NULL);
  memset(&child, 0, sizeof child);
  child.sa_handler = reap;
  child.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) {
    pause();
  }
}
