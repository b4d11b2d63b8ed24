package DancerSample;
# Routes of the Dancer2 sample app; see ../app.psgi for the list.
use strict;
use warnings;
use Dancer2 appname => 'DancerSample';

our $VERSION = '0.01';

# Called by app.psgi with the absolute directory of the app, so the views are
# found regardless of the process's cwd.
sub configure_paths {
    my ($class, $dir) = @_;
    set appdir   => $dir;
    set views    => "$dir/views";
    set public_dir => "$dir/public";
    return;
}

set charset  => 'UTF-8';
set logger   => 'console';
set log      => 'warning';
set template => 'template_toolkit';
set engines  => {
    template => { template_toolkit => { ENCODING => 'utf8' } },
};
set layout   => undef;

get '/' => sub {
    template 'index' => {
        title  => 'Dancer2 sample',
        pid    => $$,
        routes => ['/', '/hello/:name', '/form'],
    };
};

get '/hello/:name' => sub {
    my $name = route_parameters->get('name');
    send_as JSON => { hello => $name, app => 'dancer2', pid => $$ };
};

get '/form' => sub {
    template 'form' => { title => 'Dancer2 form' };
};

post '/form' => sub {
    my $params = body_parameters;
    my @fields = map { { name => $_, values => [ $params->get_all($_) ] } }
                 sort $params->keys;
    template 'echo' => { title => 'Dancer2 form echo', fields => \@fields,
                         count => scalar @fields };
};

1;
