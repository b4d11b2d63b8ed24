# An unknown option is an error naming it, from the command line and from an
# ini file, and psgi-vassal exits non-zero.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::Config;

eval { Vassal::Config->from_argv(['--psgi', 'a.psgi', '--frobnicate', 'yes']) };
is $@, "unknown option '--frobnicate'\n", 'unknown command-line option';

eval { Vassal::Config->from_argv(['--psgi']) };
is $@, "option '--psgi' needs a value\n", 'missing value';

eval { Vassal::Config->from_argv(['app.ini']) };
like $@, qr/unexpected argument 'app\.ini'/, 'bare argument';

my $c = Vassal::Config->from_argv(['--master', '--psgi', 'x.psgi']);
is $c->get('master'), 1, 'a boolean option without a value';
eval { Vassal::Config->from_argv(['--master=maybe']) };
like $@, qr/option 'master' must be true or false, not 'maybe'/, 'invalid boolean';

my $dir = tempdir();
my $log = "$dir/stderr";
my $pid = spawn_vassal(args => ['--http-socket', '127.0.0.1:1', '--no-such-option', '1'], stderr => $log);
waitpid $pid, 0;
is $? >> 8, 2, 'psgi-vassal exits with status 2';
like slurp($log), qr/^\[psgi-vassal pid $pid\] configuration error: unknown option '--no-such-option'$/m,
    'the error is logged with the name and pid prefix';

write_file("$dir/app7.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:1\nbogus = 1\n");
$pid = spawn_vassal(args => ['--ini', "$dir/app7.ini"], stderr => $log);
waitpid $pid, 0;
is $? >> 8, 2, 'exit status 2 for an unknown ini key';
like slurp($log), qr/configuration error: unknown option 'bogus' \(.*app7\.ini line 3\)/, 'names the key, file and line';

done_testing;
