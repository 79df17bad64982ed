#!/usr/bin/env bash
# `make slurm-local`: a one-node Slurm on this machine, for the tests and for trying the launcher.
# Installs Debian's slurmctld, slurmd, slurm-client and munge when missing, writes a config for
# this host (cores and memory as `slurmd -C` reports them), starts munged, slurmctld and slurmd,
# and waits until the node takes jobs. Needs root; running it again with Slurm up does nothing.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "slurm-local: needs root (apt-get and the Slurm daemons)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

# A daemon counts when a process of that name runs and is not a zombie.
alive() { for p in $(pgrep -x "$1"); do [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) =~ ^[RSD]$ ]] && return 0; done; return 1; }
up() { sinfo -h -o '%t' 2>/dev/null | grep -qxE '(idle|mix|alloc)'; }
if alive slurmctld && alive slurmd && up; then
  echo "slurm-local: already running"; sinfo; exit 0
fi

# munge: a key, its run folder, the daemon as the munge user.
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
alive munged || runuser -u munge -- /usr/sbin/munged

HOST=$(hostname -s)
NODE=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$HOST/; s/ UpTime=.*//")
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<EOF
# Written by hardneg's launchers/slurm/local.sh: one node, root daemons, no accounting.
ClusterName=hardneg-local
SlurmctldHost=$HOST
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MaxArraySize=100001
$NODE State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

alive slurmctld || slurmctld
alive slurmd || slurmd
for _ in $(seq 60); do
  if up; then sinfo; exit 0; fi
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
tail -n 20 /var/log/slurm/slurmd.log /var/log/slurm/slurmctld.log >&2 || true
exit 1
