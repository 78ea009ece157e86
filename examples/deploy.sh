#!/bin/sh
# deploy.sh — publish a Lambda version and let canaryd roll it out.
#
#   CANARYD_ADDR=https://canaryd.internal:8443 CANARYD_ADMIN_TOKEN=<deployer token> \
#     ./deploy.sh TARGET FUNCTION
#
# The target must have a [target.rollout] in canaryd's config. The script
# publishes the function's current code as a new version (skip this with
# VERSION=<n> when your tooling already published one), asks canaryd to
# roll it out step by step, and waits for the verdict:
#
#   exit 0  promoted: every step passed, all traffic on the new version
#   exit 3  rolled back: a step failed (only its slice of traffic saw it),
#           or the pre-traffic hook failed and no traffic moved
#   exit 4  undecided: timed out, superseded by a newer deploy, or failing
#           while canaryd could only alert (paused, known-good failing too)
#
# A deployer-scope token ([[daemon.token]] scope = "deployer") is enough:
# it can deploy, announce and wait, but not pause, force or mark good.
set -eu

target=${1:?usage: deploy.sh TARGET FUNCTION}
function=${2:?usage: deploy.sh TARGET FUNCTION}
canaryd=${CANARYD:-canaryd}
timeout=${TIMEOUT:-30m}

: "${CANARYD_ADDR:?set CANARYD_ADDR to canaryd's admin API, e.g. https://canaryd.internal:8443}"
: "${CANARYD_ADMIN_TOKEN:?set CANARYD_ADMIN_TOKEN to a deployer token}"

if [ -z "${VERSION:-}" ]; then
  VERSION=$(aws lambda publish-version --function-name "$function" --query Version --output text)
fi
echo "rolling out $function version $VERSION through canaryd target $target"

set +e
"$canaryd" deploy "$target" --version "$VERSION" --wait --timeout "$timeout"
code=$?
set -e
case $code in
  0) echo "version $VERSION of $target promoted" ;;
  3) echo "version $VERSION of $target rolled back: see 'canaryd history $target'" >&2 ;;
  4) echo "no verdict for version $VERSION of $target: see 'canaryd status'" >&2 ;;
  *) echo "canaryd deploy failed (exit $code)" >&2 ;;
esac
exit $code
