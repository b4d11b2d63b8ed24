# The Emperor CLI's lifecycle from the outside, as an operator drives it: a glob
# monitor, vassal files added, touched and removed while it runs, the stats
# socket, uWSGI's flag names, and a graceful SIGTERM that leaves nothing behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use JSON::PP ();
use Test::More;
use EmperorTest qw(root empty_port write_file wait_until http_get parent_of alive start_emperor);

my $root = root();
my $dir = tempdir('emperor-lifecycle-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/vassals" or die $!;

# atomic writes: the Emperor must never see half a config
sub put_vassal {
    my ($name, $text) = @_;
    write_file("$dir/.tmp", $text);
    rename "$dir/.tmp", "$dir/vassals/$name" or die "rename: $!";
}

sub stats {
    my $s = IO::Socket::UNIX->new(Peer => "$dir/stats.sock") or return;
    local $/;
    my $doc = <$s>;
    return eval { JSON::PP::decode_json($doc) };
}

sub master_of {
    my ($port) = @_;
    my $r = http_get($port);
    return unless $r->{status} == 200 && $r->{content} =~ /pid (\d+)/;
    return parent_of($1);
}

put_vassal('base.ini', "[uwsgi]\nearly-psgi = $root/integration/apps/hello.psgi\nfork-server = $dir/fork.sock\n");
my ($p1, $p2) = (empty_port(), empty_port());
put_vassal('app1.ini', "[uwsgi]\nhttp-socket = 127.0.0.1:$p1\nprocesses = 1\n");
put_vassal('notes.txt', "not a vassal\n");

my $emperor = start_emperor(dir => $dir, args => [
    '--emperor', "$dir/vassals/*.ini",
    '--vassal-fork-base', 'base.ini',
    '--emperor-use-fork-server', "$dir/fork.sock",
    '--binary-path', "$root/perl/bin/psgi-vassal",
    '--reload-mercy', '5',
    '--emperor-stats', "$dir/stats.sock",
    '--emperor-throttle', '200',
    '--emperor-max-throttle', '1000',
    '--emperor-graceful-shutdown',
]);

my $m1 = wait_until(60, sub { master_of($p1) });
ok $m1, 'a vassal present at start answers' or diag $emperor->log_text;
is parent_of($m1), $emperor->pid, 'adopted: re-parented to the Emperor';

put_vassal('app2.ini', "[uwsgi]\nhttp-socket = 127.0.0.1:$p2\nprocesses = 1\n");
my $m2 = wait_until(60, sub { master_of($p2) });
ok $m2, 'a vassal file added while running is taken up' or diag $emperor->log_text;

my $st = wait_until(30, sub { my $s = stats(); $s && @{ $s->{vassals} } == 3 && $s });
ok $st, 'the stats socket answers with one JSON document' or diag $emperor->log_text;
if ($st) {
    is $st->{pid}, $emperor->pid, 'stats: the Emperor pid';
    is_deeply $st->{emperor}, ["$dir/vassals/*.ini"], 'stats: the monitor';
    ok exists $st->{$_}, "stats: top-level $_" for qw(version uid gid cwd emperor_tyrant throttle_level blacklist);
    my ($v) = grep { $_->{id} eq 'app1.ini' } @{ $st->{vassals} };
    is $v->{pid}, $m1, 'stats: app1 pid';
    is $v->{adopted}, 1, 'stats: app1 adopted';
    ok exists $v->{$_}, "stats: vassal field $_" for qw(born last_mod last_heartbeat loyal ready accepting
        last_loyal last_ready last_accepting first_run last_run cursed zerg on_demand suspended uid gid monitor respawns);
}

# a changed mtime reloads: the adopted vassal exits and a new one is adopted
utime time + 10, time + 10, "$dir/vassals/app1.ini" or die $!;
my $m1b = wait_until(60, sub { my $m = master_of($p1); $m && $m != $m1 && $m });
ok $m1b, 'a touched config brings a new vassal process' or diag $emperor->log_text;
ok !alive($m1), 'the old one is gone';

# a removed file stops its vassal
unlink "$dir/vassals/app2.ini" or die $!;
ok wait_until(30, sub { !alive($m2) }), 'a removed config stops its vassal' or diag $emperor->log_text;
ok wait_until(30, sub { http_get($p2)->{status} == 599 }),
    'nothing answers on its port any more';

my $status = $emperor->stop(60);
is $status, 0, 'SIGTERM: exit status 0' or diag $emperor->log_text;
ok !alive($m1b), 'no vassal outlives the Emperor';
ok !-e "$dir/stats.sock", 'stats socket removed';
ok !-e "$dir/fork.sock", 'fork-server socket removed';
my $log = $emperor->log_text;
like $log, qr/vassal app2\.ini removed/, 'the log names each state change';
like $log, qr/sent 2 \(graceful stop\)/, 'graceful shutdown sends 2';

# uWSGI's flag names are checked like any other
my $jar = "$root/target/emperor.jar";
my $out = qx{java -jar '$jar' --emperor '$dir' --emperor-throttle soon 2>&1};
is $? >> 8, 2, 'a malformed --emperor-throttle: exit status 2';
like $out, qr/--emperor-throttle.*soon/, 'and the message names it';
done_testing;
